"""One window of two variants serving at once on the same budget: what `harness gate` measures.

Why side by side: on a shared host the CPU time one request costs wanders by a quarter within
minutes (a neighbour on the sibling hyperthread, memory bandwidth), and windows of A then B, even
interleaved and paired, kept a spread of ±11 % per pair between two refs of identical code
(docs/ci.md) — no 10-minute gate could call 5 % through that. Two variants pinned to the same CPUs
for the same seconds meet the same host at every moment: the scheduler interleaves them at the
millisecond, so whatever the host does falls on both, and their ratio keeps only what the code
does. The cost: each variant's throughput and latency are measured with the other beside it, so
the window's figure of record is CPU per request (each variant's processes and its own PostgreSQL
backends, over its own requests); throughput and p95 are recorded for the reader, not judged alone.

Each variant has its own load (its own locust process, the same users and requests), its own port,
its own PostgreSQL server (the run's, and a copy of it: harness.backends.postgres.EmbeddedPostgres
.clone) with a fresh copy of its template, all on the budget's CPUs: so each variant's PostgreSQL
CPU is its server's process tree, exact (one server's CPU cannot be split by database: a pool's
overflow connections come and go within a window, and an exited backend's CPU is only in the
postmaster's reaped total). The window opens a warm-up after the last user has signed in and
closes for both at once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import interrupts
from harness.backends.base import RunningStage
from harness.backends.postgres import STAGE_DB
from harness.errors import StageFailed
from harness.load.shape import SIGN_IN_TIMEOUT_SECONDS, LoadShape, LocustRun, ready_files
from harness.measure import host_speed, waiting
from harness.measure.counters import read_counters
from harness.measure.telemetry import services_cpu_seconds, tree_cpu_seconds
from harness.measure.window import locust_failed, recorded_rows
from harness.measure.writes import WritesRule
from harness.run_folder import write_json

Tick = Callable[[str, float], None]


@dataclass(frozen=True)
class Side:
    """One variant in the window: where it runs, where its measurement goes, and the PostgreSQL
    server it alone uses (its admin URL, its postmaster's pid)."""
    running: RunningStage
    out_dir: Path
    admin_url: str
    database_pids: Callable[[], list[int]]


def _wait_signed_in(sides: list[Side], loads: list[LocustRun], deadline: float, tick: Tick | None) -> float:
    while True:
        interrupts.check()
        files = [f for side in sides for f in ready_files(side.out_dir, 1)]
        if all(f.is_file() for f in files):
            return max(float(f.read_text()) for f in files)
        if time.time() > deadline:
            raise StageFailed(f"{', '.join(s.running.stage.id for s in sides)}: not every user signed in "
                              f"within {SIGN_IN_TIMEOUT_SECONDS:.0f} s")
        for side, load in zip(sides, loads, strict=True):
            if load.process.poll() is not None:
                raise locust_failed(side.running, load, f"exited with code {load.process.returncode}")
            if dead := side.running.dead_services():
                raise StageFailed(f"{side.running.stage.id}: service {', '.join(dead)} died during sign-in",
                                  side.running.logs())
        if tick:
            tick("sign-in", 0.0)
        time.sleep(0.2)


def _sleep_until(moment: float, phase: str, sides: list[Side], tick: Tick | None) -> None:
    while (left := moment - time.time()) > 0:
        interrupts.check()
        for side in sides:
            if dead := side.running.dead_services():
                raise StageFailed(f"{side.running.stage.id}: service {', '.join(dead)} died during {phase}",
                                  side.running.logs())
        if tick:
            tick(phase, left)
        time.sleep(min(0.5, left))


def measure_side_by_side(sides: list[Side], shape: LoadShape, load_cpus: frozenset[int],
                         server_cpus: frozenset[int], writes: WritesRule,
                         tick: Tick | None = None) -> list[dict[str, Any]]:
    """Every side's load started, every user signed in, a warm-up, one window for all; each side's
    measurement.json written (the keys harness.measure.window writes, where they apply) and returned."""
    writes_before = [writes.count(s.admin_url, STAGE_DB) for s in sides]
    launch = time.time()
    loads: list[LocustRun] = []
    watchers: host_speed.Watchers | None = None
    try:
        for side in sides:
            loads.append(side.running.start_load(shape, load_cpus, side.out_dir))
        watchers = host_speed.Watchers.start(server_cpus, sides[0].out_dir)
        signed_in = _wait_signed_in(sides, loads, launch + SIGN_IN_TIMEOUT_SECONDS, tick)
        window = (signed_in + shape.warmup, signed_in + shape.warmup + shape.duration)
        _sleep_until(window[0], "warm-up", sides, tick)
        services = [s.running.service_pids() for s in sides]
        db_before = [read_counters(s.admin_url, STAGE_DB) for s in sides]
        postgres_before = [tree_cpu_seconds(s.database_pids()) for s in sides]
        apps_before = [services_cpu_seconds(p) for p in services]
        gen_before = [tree_cpu_seconds(load.pids()) for load in loads]
        budget_before, load_before = waiting.cpu_times(server_cpus), waiting.cpu_times(load_cpus)
        others_before = waiting.process_times()
        _sleep_until(window[1], "measure", sides, tick)
        apps_after = [services_cpu_seconds(p) for p in services]
        postgres_after = [tree_cpu_seconds(s.database_pids()) for s in sides]
        db_after = [read_counters(s.admin_url, STAGE_DB) for s in sides]
        gen_after = [tree_cpu_seconds(load.pids()) for load in loads]
        budget_after, load_after = waiting.cpu_times(server_cpus), waiting.cpu_times(load_cpus)
        others_after = waiting.process_times()
        ours = waiting.run_tree([os.getpid(), *(pid for p in services for pid in p.values()),
                                 *(pid for load in loads for pid in load.pids())])
        for side, load in zip(sides, loads, strict=True):
            if load.process.poll() is not None:
                raise locust_failed(side.running, load,
                                    f"stopped before the window closed (code {load.process.returncode})")
    finally:
        with interrupts.deferred():
            if watchers is not None:
                watchers.stop()
            for load in loads:
                load.stop()
    span = window[1] - window[0]
    speed = host_speed.window_speed(sides[0].out_dir, window)
    app_cpu = [sum(after[n] - before[n] for n in after) for before, after in zip(apps_before, apps_after, strict=True)]
    db_cpu = [a - b for a, b in zip(postgres_after, postgres_before, strict=True)]
    server = [a + d for a, d in zip(app_cpu, db_cpu, strict=True)]
    # the generators share the load CPUs: together they are what could saturate them
    generator_pct = 100 * sum(a - b for a, b in zip(gen_after, gen_before, strict=True)) / span / len(load_cpus)
    # one host for both sides: its CPUs' shares and the busiest processes outside the run, read once
    shared = {"budget_cpus": waiting.cpu_shares(budget_before, budget_after, span),
              "load_cpus": waiting.cpu_shares(load_before, load_after, span),
              "other_processes": waiting.busiest_others(others_before, others_after, ours, span)}
    records = []
    for k, (side, load) in enumerate(zip(sides, loads, strict=True)):
        if load.process.returncode != 0:
            raise locust_failed(side.running, load, f"exited with code {load.process.returncode}")
        sent, recorded = load.sent(), recorded_rows(side.out_dir)
        if sent is not None and sent > recorded:
            raise StageFailed(f"{side.running.stage.id}: {sent - recorded:,} of the {sent:,} requests locust "
                              "counted are in no samples file; not measured")
        record = {
            "window_start": window[0], "window_end": window[1], "window_seconds": span,
            "sign_in_seconds": round(signed_in - launch, 2),
            "server_cpu_seconds": server[k], "db_cpu_seconds": db_cpu[k],
            # the budget was shared: how busy both kept it is what says whether it bound them
            "side_by_side": {"with": [s.running.stage.id for s in sides if s is not side],
                             "budget_busy_seconds": sum(server)},
            "generator_processes": 1, "generator_cores": len(load_cpus), "rate": 0.0, "drain_seconds": 0.0,
            "generator_cpu_pct": generator_pct, "generator_sent": sent, "generator_cpu_peak_pct": generator_pct,
            "db": db_after[k].minus(db_before[k]).as_record(),
            "database_restarts": [], "restarts_in_window": 0,
            "host_speed": speed,
            "writes": writes.record(writes_before[k], writes.count(side.admin_url, STAGE_DB)),
            "waiting": shared,
        }
        write_json(side.out_dir / "measurement.json", record)
        records.append(record)
    return records
