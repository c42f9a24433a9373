"""The stage's PostgreSQL through a measurement: alive, died, or restarted.

A server that goes away and comes back (a restart: an operator's `pg_ctl restart`, a container's
`docker restart`, a failover to the same address) is not a dead one: the window goes on, the
requests that failed while it was down count as failures, and the restart is recorded — when, and
how long the server was down — so the line and the report say what happened. A server that does
not answer again within RESTART_GRACE_S has died: the stage fails, and the run names what it
could not measure (errors.DatabaseDied).

Its CPU is read across the restart: the CPU of each server generation up to its last reading
(once a second, by the window's sampler) plus the new one's, so `db_cpu_seconds` stays a sum over
the window; what the old server used in its last second is not seen.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil
import psycopg

from harness.errors import DatabaseDied
from harness.measure.telemetry import tree_cpu_seconds

# how long a server that went away has to answer again before it counts as dead: a fast
# shutdown and start take a few seconds, a container's restart its stop timeout more
RESTART_GRACE_S = 15.0


def database_alive(pids: list[int]) -> bool:
    """Is this server process still running? (An external server, with no pid here: assumed so.)"""
    if not pids:
        return True
    try:
        return psutil.Process(pids[0]).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _answers(admin_url: str) -> bool:
    try:
        with psycopg.connect(admin_url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


@dataclass
class DatabaseWatch:
    """The server as the window sees it: `source` gives its current processes (pids on this host;
    none for an external server), `cpus` the budget's CPUs a restarted server is pinned back to
    (None: where it runs already pins it, a container's cpuset)."""
    admin_url: str
    source: Callable[[], list[int]]
    cpus: frozenset[int] | None = None
    pids: list[int] = field(default_factory=list)
    banked: float = 0.0  # CPU of the server generations that ended
    last: float = 0.0  # the current generation's last reading
    restarts: list[dict[str, float]] = field(default_factory=list)
    alive_at: float = field(default_factory=time.time)  # when the server was last seen running

    def __post_init__(self) -> None:
        self.pids = self.current()

    def current(self) -> list[int]:
        """The server's processes now (a stopped container's pid reads 0: none)."""
        return [pid for pid in self.source() if pid > 0]

    def cpu_seconds(self) -> float:
        """CPU seconds of every generation of the server so far."""
        self.last = tree_cpu_seconds(self.pids)
        return self.banked + self.last

    def check(self, what: str, logs: Callable[[], dict[str, str]]) -> None:
        """Nothing when the server runs; when it went away, wait for it to answer again (a
        restart, recorded) or raise DatabaseDied naming `what` it died during."""
        if database_alive(self.pids):
            self.alive_at = time.time()
            return
        gone = time.time()
        self.banked += self.last
        self.last = 0.0
        deadline = time.monotonic() + RESTART_GRACE_S
        while time.monotonic() < deadline:
            pids = self.current()
            if pids and pids != self.pids and database_alive(pids) and _answers(self.admin_url):
                self.pids = pids
                self._pin()
                # down from when the old server was last seen running to when the new one first
                # answered (an upper bound by the half second between two looks; a process's start
                # time is not used: the kernel gives it to the second). Requests also fail while a
                # server shuts down: the window's failures count those.
                answered = time.time()
                self.restarts.append({"at": gone, "down_s": round(answered - self.alive_at, 2)})
                self.alive_at = answered
                return
            time.sleep(0.2)
        raise DatabaseDied(what, logs())  # not back within RESTART_GRACE_S: died

    def _pin(self) -> None:
        """A server restarted by someone else runs where they started it: back on the budget."""
        if self.cpus is None:
            return
        for pid in self.pids:
            with contextlib.suppress(psutil.Error, OSError):
                root = psutil.Process(pid)
                for process in [root, *root.children(recursive=True)]:
                    os.sched_setaffinity(process.pid, self.cpus)

    def record(self) -> list[dict[str, Any]]:
        return list(self.restarts)
