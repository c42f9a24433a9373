"""CPU accounting of process trees, sampled through the measuring window."""

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import psutil


def tree_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of the trees rooted at `pids`, reaped children included.

    A live process's own times plus its children_* times (children it has reaped) count
    every CPU-second once: PostgreSQL's ended backends are in the postmaster's.
    """
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            try:
                t = proc.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.NoSuchProcess:
                continue
    return total


def services_cpu_seconds(services: Mapping[str, int]) -> dict[str, float]:
    """Each service's tree CPU, by name. The services' trees are disjoint, so the values add up
    to `tree_cpu_seconds` of all of them: one walk serves the total and the per-service split."""
    return {name: tree_cpu_seconds([pid]) for name, pid in services.items()}


@dataclass
class Sampler:
    """Samples server CPU (the apps' plus the database's, each tree walked once) and generator CPU
    once a second in a background thread; the database's part is kept apart, so a slow stretch
    of a window shows which side spent the CPU."""

    app_pids: list[int]
    generator_pids: list[int]
    # the database's CPU seconds so far (harness.measure.database.DatabaseWatch: across a restart)
    db_cpu: Callable[[], float] = lambda: 0.0
    interval: float = 1.0
    # further readings merged into each row (harness/measure/waiting.py); one that fails (the
    # database died, the edge went away) leaves its keys out of that row, never stops the sampling
    probes: list[Callable[[], dict[str, float]]] = field(default_factory=list)
    rows: list[dict[str, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        psutil.cpu_percent(percpu=True)  # prime the per-CPU counters
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        last_t, last_app, last_db, last_gen = time.time(), self._app(), self._db(), self._generator()
        while not self._stop.wait(self.interval):
            now, app, db, gen = time.time(), self._app(), self._db(), self._generator()
            span = now - last_t
            row = {"t": now, "server_cpu_pct": 100 * (app + db - last_app - last_db) / span,
                   "db_cpu_pct": 100 * (db - last_db) / span,
                   "generator_cpu_pct": 100 * (gen - last_gen) / span}
            for cpu, pct in enumerate(psutil.cpu_percent(percpu=True)):
                row[f"cpu{cpu}_pct"] = pct
            for probe in self.probes:
                try:
                    row.update(probe())
                except Exception:  # noqa: BLE001 - evidence is best effort; the window's figures are not
                    continue
            self.rows.append(row)
            last_t, last_app, last_db, last_gen = now, app, db, gen

    def _app(self) -> float:
        return tree_cpu_seconds(self.app_pids)

    def _db(self) -> float:
        return self.db_cpu()

    def _generator(self) -> float:
        return tree_cpu_seconds(self.generator_pids)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
