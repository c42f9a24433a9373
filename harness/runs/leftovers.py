"""What a harness process leaves behind when it cannot clean up after itself, and `harness cleanup`.

A run stops everything it started on errors, Ctrl-C and SIGTERM. A SIGKILL, an OOM kill or a
crashed terminal session gives it no chance: its servers were started in sessions of their own
(so a Ctrl-C reaches the harness first and teardown stays in order), and they outlive it.

So everything is marked with its owner (harness/ownership.py): the pid and start time of the process that started it
(a pid alone can be reused). Local processes inherit LADDER_OWNER in their environment,
containers and networks carry the ladder.owner and ladder.host labels, the embedded PostgreSQL's
folder holds an `owner` file, cgroups are named ladder-<owner>-<id>, and run.json records the
owner and host. A thing is left over when its owner is no longer running on this host; a live
run's things, or those of a program using the harness as a library, are never touched.
"""

import contextlib
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from harness.ownership import (
    CGROUP_NAME,
    HOST_LABEL,
    OWNER_ENV,
    OWNER_LABEL,
    PG_DIR_PREFIX,
    RUN_LABEL,
    VARIANTS_DIR_PREFIX,
    alive,
)

CGROUP_ROOTS = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/cpu"))


@dataclass
class Leftovers:
    processes: list[str] = field(default_factory=list)
    database_folders: list[str] = field(default_factory=list)
    variant_folders: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    live_owners: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def gone(self, token: str | None) -> bool:
        """Is this owner gone? A live one is remembered, to say what was left alone."""
        if alive(token):
            self.live_owners.add(str(token))
            return False
        return True

    def removed(self) -> dict[str, list[str]]:
        return {"processes": self.processes, "PostgreSQL folders": self.database_folders,
                "variants' folders": self.variant_folders,
                "cgroups": self.cgroups, "services": self.services, "containers": self.containers,
                "networks": self.networks, "volumes": self.volumes, "secrets": self.secrets,
                "runs marked killed": self.runs}


def orphaned_processes() -> list[psutil.Process]:
    """Processes carrying the LADDER_OWNER of an owner that is gone."""
    me = os.getpid()
    found = []
    for process in psutil.process_iter():
        if process.pid == me:
            continue
        with contextlib.suppress(psutil.Error):
            token = process.environ().get(OWNER_ENV)
            if token and not alive(token):
                found.append(process)
    return found


def _stop_processes(found: Leftovers, grace: float = 10.0) -> None:
    victims = orphaned_processes()
    for process in victims:
        with contextlib.suppress(psutil.Error):
            found.processes.append(f"{process.pid} {' '.join(process.cmdline())[:100]}")
            # PostgreSQL's postmaster takes SIGINT as its fast shutdown; everything else SIGTERM
            parent = process.parent()
            is_postmaster = process.name() == "postgres" and (parent is None or parent.name() != "postgres")
            process.send_signal(signal.SIGINT if is_postmaster else signal.SIGTERM)
    _, survivors = psutil.wait_procs(victims, timeout=grace)
    for process in survivors:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(survivors, timeout=5)


def _owned_folders(found: Leftovers) -> None:
    """The embedded PostgreSQL's folders and a service run's checked-out variants, each marked
    with its owner in an `owner` file."""
    for prefix, removed in ((PG_DIR_PREFIX, found.database_folders), (VARIANTS_DIR_PREFIX, found.variant_folders)):
        for folder in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
            owner_file = folder / "owner"
            token = owner_file.read_text().strip() if owner_file.is_file() else None
            if not token or not found.gone(token):
                continue  # no owner: not ours to judge (written before owners were recorded, or by someone else)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))


def _cgroups(found: Leftovers) -> None:
    for root in CGROUP_ROOTS:
        for group in root.glob("ladder-*"):
            match = CGROUP_NAME.match(group.name)
            if not match or not group.is_dir():
                continue
            if not found.gone(match.group(1)):
                continue
            try:
                group.rmdir()
                found.cgroups.append(str(group))
            except OSError as exc:
                found.notes.append(f"cgroup {group} not removed: {exc.strerror}")


def _docker(found: Leftovers) -> None:
    import docker

    try:
        engine = docker.from_env(timeout=10)
        engine.ping()
    except Exception:  # noqa: BLE001 — any failure to reach the engine means the same thing here
        found.notes.append("Docker is not reachable: containers and networks not checked")
        return
    host = socket.gethostname()
    selector = {"label": RUN_LABEL}

    def orphaned(labels: dict[str, str]) -> bool:
        if labels.get(HOST_LABEL, host) != host:
            return False  # a run on another machine sharing this engine: its pid means nothing here
        return found.gone(labels.get(OWNER_LABEL))

    from harness.backends.containers import listed, remove_released

    # swarm services first: removing one removes its task containers (a killed swarm run's tiers)
    with contextlib.suppress(docker.errors.APIError):  # not a swarm manager: no services to list
        for service in engine.services.list(filters=selector):
            if orphaned(service.attrs["Spec"].get("Labels") or {}):
                with contextlib.suppress(docker.errors.NotFound):
                    service.remove()
                    found.services.append(service.name)
    if found.services:
        from harness.backends.swarm_engine import wait_for_tasks_gone
        wait_for_tasks_gone(engine, selector)
    with contextlib.suppress(docker.errors.APIError):  # a swarm manager's only: the nodes it cannot reach
        for node in engine.nodes.list():
            if (node.attrs.get("Status") or {}).get("State") == "down":
                name = (node.attrs.get("Description") or {}).get("Hostname") or node.id
                found.notes.append(
                    f"node {name} is down: what a run left on it goes when it rejoins the swarm (the services "
                    "it ran are removed); if it never will, on that machine: "
                    "docker rm -f $(docker ps -aq --filter label=ladder.run)")
    for container in listed(engine, selector):
        if orphaned(container.labels):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)  # v: anonymous volumes (the database's data) too
                found.containers.append(container.name)
    found.networks += remove_released(lambda: [n for n in engine.networks.list(filters=selector)
                                               if orphaned(n.attrs.get("Labels") or {})])
    found.volumes += remove_released(lambda: [v for v in engine.volumes.list(filters=selector)  # a swarm's data
                                              if orphaned(v.attrs.get("Labels") or {})])
    with contextlib.suppress(docker.errors.APIError):  # the node agents' key: a swarm manager's only
        for secret in engine.secrets.list(filters=selector):
            if orphaned(secret.attrs["Spec"].get("Labels") or {}):
                with contextlib.suppress(docker.errors.NotFound):
                    secret.remove()
                    found.secrets.append(secret.name)


def _runs(found: Leftovers, results_dir: Path, finish: Callable[[Path], None]) -> None:
    """Runs still 'running' whose harness is gone: marked killed, their tables and report drawn
    from what they measured."""
    from harness.run_folder import read_json, utc_now, write_json

    host = socket.gethostname()
    for path in sorted(results_dir.glob("*/run.json")):
        with contextlib.suppress(OSError, ValueError):
            run = read_json(path)
            token = run.get("owner")
            if run.get("status") != "running" or not token or run.get("host") != host or not found.gone(token):
                continue
            for stage_json in path.parent.glob("stages/*/stage.json"):
                meta = read_json(stage_json)
                if meta.get("status") == "running":
                    meta["status"] = "killed"
                    meta["error"] = f"the harness was killed during {meta.get('phase', 'the stage')}"
                    write_json(stage_json, meta)
            run["status"], run["swept_at"] = "killed", utc_now()
            write_json(path, run)
            if run.get("kind") == "ladder":
                finish(path.parent)
            found.runs.append(str(path.parent))


def clean_up(results_dir: Path, finish: Callable[[Path], None], docker: bool = True) -> Leftovers:
    """Stop and remove what dead harness processes left; processes first, so their folders,
    cgroups and databases are free to go."""
    found = Leftovers()
    _stop_processes(found)
    _owned_folders(found)
    _cgroups(found)
    if docker:
        _docker(found)
    if results_dir.is_dir():
        _runs(found, results_dir, finish)
    return found
