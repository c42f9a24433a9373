"""One measurement: warm-up, then a fixed window of locust load, with telemetry around it."""

import csv
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import interrupts
from harness.counters import read_counters
from harness.errors import StageFailed
from harness.lifecycle import RunningStage
from harness.load import STARTUP_SECONDS, LoadProfile, start_locust
from harness.results import write_json
from harness.telemetry import Sampler, tree_cpu_seconds

Tick = Callable[[str, float], None]  # (phase, seconds left)


def _sleep_until(moment: float, phase: str, tick: Tick | None, running: RunningStage) -> None:
    while (left := moment - time.time()) > 0:
        interrupts.check()
        if dead := running.dead_services():
            raise StageFailed(f"{running.stage.id}: service {', '.join(dead)} died during {phase}",
                              running.logs())
        if tick:
            tick(phase, left)
        time.sleep(min(0.5, left))


def measure(running: RunningStage, admin_url: str, database_pids: list[int], profile: LoadProfile,
            load_cpus: frozenset[int], out_dir: Path, tick: Tick | None = None) -> dict[str, Any]:
    launch = time.time()
    window = (launch + STARTUP_SECONDS + profile.warmup,
              launch + STARTUP_SECONDS + profile.warmup + profile.duration)
    server_pids = running.pids() + database_pids
    locust = start_locust(running.base_url, profile, load_cpus, window, launch, out_dir)
    sampler = Sampler(server_pids, [locust.process.pid])
    try:
        sampler.start()
        _sleep_until(window[0], "warm-up", tick, running)
        db_before, cpu_before = read_counters(admin_url), tree_cpu_seconds(server_pids)
        gen_before = tree_cpu_seconds([locust.process.pid])
        _sleep_until(window[1], "measure", tick, running)
        db_after, cpu_after = read_counters(admin_url), tree_cpu_seconds(server_pids)
        gen_after = tree_cpu_seconds([locust.process.pid])
        try:
            locust.process.wait(timeout=30)
        except Exception:
            raise StageFailed(f"{running.stage.id}: locust did not stop after the window") from None
    finally:
        with interrupts.deferred():
            sampler.stop()
            locust.stop()
    if locust.process.returncode != 0:
        raise StageFailed(f"{running.stage.id}: locust exited with code {locust.process.returncode}",
                          {"locust": locust.stderr.read_text(errors="replace")[-3000:]})
    if dead := running.dead_services():
        raise StageFailed(f"{running.stage.id}: service {', '.join(dead)} died during the measurement",
                          running.logs())
    _write_rows(out_dir / "telemetry.csv", sampler.rows)
    span = window[1] - window[0]
    # the generator's CPU as a share of what it can use: one core per process, at most the load CPUs
    cores = min(profile.processes, len(load_cpus)) or 1
    result = {
        "window_start": window[0], "window_end": window[1], "window_seconds": span,
        "server_cpu_seconds": cpu_after - cpu_before,
        "generator_processes": profile.processes, "generator_cores": cores,
        "generator_cpu_pct": 100 * (gen_after - gen_before) / span / cores,
        "generator_cpu_peak_pct": max((r["generator_cpu_pct"] for r in sampler.rows), default=0.0) / cores,
        "db": db_after.minus(db_before).as_record(),
    }
    write_json(out_dir / "measurement.json", result)
    return result


def _write_rows(path: Path, rows: list[dict[str, float]]) -> None:
    if not rows:
        return
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
