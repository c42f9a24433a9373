"""Who started a thing: every process, container, network, cgroup and database folder a run
starts carries its owner (the pid and start time of the harness process; a pid alone can be
reused), so `harness cleanup` (harness/runs/leftovers.py) can tell what a dead run left behind
from what a live one is using. Its own module because the backends mark what they start and
run.json records its owner, while the sweep reads results: kept apart, nothing imports in a circle.
"""

import os
import re
import socket
from typing import Any

import psutil

OWNER_ENV = "LADDER_OWNER"
OWNER_LABEL = "ladder.owner"
HOST_LABEL = "ladder.host"
RUN_LABEL = "ladder.run"
PG_DIR_PREFIX = "ladder-pg-"
VARIANTS_DIR_PREFIX = "ladder-variants-"  # a service run's checked-out variants (harness.service.variants)
CGROUP_NAME = re.compile(r"^ladder-(\d+-\d+)-[0-9a-f]+$")


def _token(process: psutil.Process) -> str:
    return f"{process.pid}-{round(process.create_time() * 100)}"


def owner() -> str:
    """This process as an owner: '<pid>-<start time in centiseconds>'."""
    return _token(psutil.Process())


def claim() -> None:
    """Mark everything this process starts from now on as its own (children inherit it)."""
    os.environ[OWNER_ENV] = owner()


def owner_labels() -> dict[str, str]:
    return {OWNER_LABEL: owner(), HOST_LABEL: socket.gethostname()}


def owner_record() -> dict[str, Any]:
    return {"pid": os.getpid(), "owner": owner(), "host": socket.gethostname()}


def alive(token: str | None) -> bool:
    """Is the owner still running? Same pid and same start time, so not a recycled pid."""
    pid, _, _ = (token or "").partition("-")
    try:
        process = psutil.Process(int(pid))
        return process.status() != psutil.STATUS_ZOMBIE and _token(process) == token
    except (psutil.Error, ValueError):
        return False
