"""One measurement: locust's users sign in, warm up, then a fixed-length window of load, with
telemetry around it."""

import csv
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import psycopg

from harness import interrupts
from harness.backends.base import DATABASE_TIER, RunningStage
from harness.errors import DatabaseDied, StageFailed
from harness.load.profile import (
    SIGN_IN_TIMEOUT_SECONDS,
    LoadProfile,
    LocustRun,
    drain_seconds,
    ready_files,
)
from harness.measure import calibrate, waiting
from harness.measure.counters import read_counters
from harness.measure.profiler import PROFILE_DIR, Profiler
from harness.measure.telemetry import Sampler, services_cpu_seconds, tree_cpu_seconds
from harness.measure.writes import count_writes
from harness.network.emulator import probe_samples, window_record
from harness.run_folder import write_json

Tick = Callable[[str, float], None]  # (phase, seconds left)


def database_alive(pids: list[int]) -> bool:
    """Is the stage's PostgreSQL still running? (An external server, with no pid here: assumed so.)"""
    if not pids:
        return True
    try:
        return psutil.Process(pids[0]).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _check_database(running: RunningStage, pids: list[int], phase: str) -> None:
    if not database_alive(pids):
        raise DatabaseDied(f"{running.stage.id}: PostgreSQL died during {phase}", running.logs())


def _sleep_until(moment: float, phase: str, tick: Tick | None, running: RunningStage,
                 db_pids: list[int] | None = None) -> None:
    while (left := moment - time.time()) > 0:
        interrupts.check()
        _check_database(running, db_pids or [], phase)
        if dead := running.dead_services():
            raise StageFailed(f"{running.stage.id}: service {', '.join(dead)} died during {phase}",
                              running.logs())
        if tick:
            tick(phase, left)
        time.sleep(min(0.5, left))


def _locust_failed(running: RunningStage, locust: LocustRun, what: str) -> StageFailed:
    """The stage fails with locust's own last words as its log."""
    return StageFailed(f"{running.stage.id}: locust {what}",
                       {"locust": locust.stderr.read_text(errors="replace")[-3000:]})


def _generator_cpu(locust: LocustRun) -> dict[str, float]:
    """The generator's CPU seconds so far: `total` (its processes here, and every worker started
    elsewhere as the node it runs on reads it), and `here_workers`, those workers as this host's
    process tree reads them (a cross-check: on one node the two readings of them agree)."""
    if locust.workers_cpu is None:
        return {"total": tree_cpu_seconds(locust.pids())}
    workers = locust.workers_cpu()
    return {"total": tree_cpu_seconds([locust.process.pid]) + workers, "workers": workers,
            "here_workers": tree_cpu_seconds(locust.worker_pids())}


def _wait_for_sign_in(files: list[Path], deadline: float, tick: Tick | None,
                      running: RunningStage, locust: LocustRun, db_pids: list[int]) -> float | None:
    """When the last locust process said all its users signed in; None if not by the deadline."""
    while True:
        interrupts.check()
        if all(f.is_file() for f in files):
            return max(float(f.read_text()) for f in files)
        if time.time() > deadline:
            return None
        if locust.process.poll() is not None:
            raise _locust_failed(running, locust, f"exited with code {locust.process.returncode}")
        if dead := running.dead_services():
            raise StageFailed(f"{running.stage.id}: service {', '.join(dead)} died during sign-in", running.logs())
        _check_database(running, db_pids, "sign-in")
        if tick:
            tick("sign-in", 0.0)
        time.sleep(0.2)


def measure(running: RunningStage, admin_url: str, database_pids: list[int], profile: LoadProfile,
            load_cpus: frozenset[int], out_dir: Path, tick: Tick | None = None,
            server_cpus: frozenset[int] = frozenset(), profiled: bool = False) -> dict[str, Any]:
    """Sign-in, then warm-up, then the window. The window opens a warm-up after every user has
    signed in, not at a fixed time: the sign-in stampede lasts 1 s on the optimized stage and
    about a minute on the baseline, and a fixed window would measure it there. With
    `server_cpus`, the host's speed on them is watched throughout (harness.measure.calibrate).
    `profiled`: py-spy samples every service through the window (harness.measure.profiler)."""
    writes_before = count_writes(admin_url)  # after verify's own export: only the load's writes count
    launch = time.time()
    services = running.service_pids()
    app_pids = list(services.values())
    remote = running.remote_tiers()  # tiers on other nodes: their CPU is what their nodes read
    locust = running.start_load(profile, load_cpus, out_dir)
    # the generator's CPU as a share of what it can use: one core per process, at most the load CPUs
    # here; a worker on another node has its node's core
    here = profile.processes if locust.workers_cpu is None else len(locust.worker_pids())
    cores = (min(here, len(load_cpus)) + profile.processes - here) or 1
    activity = waiting.DbActivity(admin_url)
    sampler = Sampler(app_pids, locust.pids(), database_pids,
                      probes=_waiting_probes(running, services, activity))
    watchers = calibrate.Watchers.start(server_cpus, out_dir)
    profiler = Profiler(services, profile.duration, load_cpus, out_dir / PROFILE_DIR) \
        if profiled else None
    profiled_record: dict[str, Any] | None = None
    try:
        sampler.start()
        signed_in = _wait_for_sign_in(ready_files(out_dir, profile.processes), launch + SIGN_IN_TIMEOUT_SECONDS,
                                      tick, running, locust, database_pids)
        opens = (signed_in or time.time()) + profile.warmup
        window = (opens, opens + profile.duration)
        _sleep_until(window[0], "warm-up", tick, running, database_pids)
        # the server side is the apps plus the database: each tree walked once, summed below; the
        # apps' per service, for the profile's shares (harness.results.layers)
        db_before, services_before = read_counters(admin_url), services_cpu_seconds(services)
        nodes_before = running.node_cpu_seconds()
        db_cpu_before, gen_before = tree_cpu_seconds(database_pids), _generator_cpu(locust)
        budget_before, load_before = waiting.cpu_times(server_cpus), waiting.cpu_times(load_cpus)
        others_before = waiting.process_times()
        wire = running.wire
        if wire is not None:  # the wire is measured like the generator: its CPU, and what it held
            wire_before, wire_cpu_before = wire.stats(), tree_cpu_seconds([wire.pid])
        if profiler is not None:
            profiler.start()
        _sleep_until(window[1], "measure", tick, running, database_pids)
        db_after, services_after = read_counters(admin_url), services_cpu_seconds(services)
        nodes_after = running.node_cpu_seconds()
        services_cpu = {name: services_after[name] - services_before[name] for name in services}
        db_cpu_after, gen_after = tree_cpu_seconds(database_pids), _generator_cpu(locust)
        budget_after, load_after = waiting.cpu_times(server_cpus), waiting.cpu_times(load_cpus)
        others_after = waiting.process_times()
        # the run's own: the harness and all it started, the stage's processes (containers' too), the database
        ours = waiting.run_tree([os.getpid(), *app_pids, *database_pids, *locust.pids(),
                                 *([wire.pid] if wire is not None else [])])
        if wire is not None:
            wire_after, wire_cpu_after = wire.stats(), tree_cpu_seconds([wire.pid])
        if profiler is not None:  # py-spy stops by itself a window after it started
            if tick:
                tick("profile", 0.0)
            profiled_record = profiler.stop(window_cpu=services_cpu)
        if profile.rate:  # requests due in the window get their answer time (what stays unanswered counts)
            _sleep_until(window[1] + drain_seconds(profile), "drain", tick, running, database_pids)
        if locust.process.poll() is not None:
            raise _locust_failed(running, locust,
                                 f"stopped before the window closed (code {locust.process.returncode})")
    except psycopg.OperationalError:  # a reading of the database failed: because it died?
        _check_database(running, database_pids, "the measurement")
        raise
    finally:
        with interrupts.deferred():
            if profiler is not None and profiled_record is None:
                profiler.stop(grace=0)  # stopped early: no py-spy outlives the window
            sampler.stop()
            watchers.stop()
            locust.stop()  # graceful: it writes the samples on the way out
            activity.close()
    if locust.process.returncode != 0:
        raise _locust_failed(running, locust, f"exited with code {locust.process.returncode}")
    if dead := running.dead_services():
        raise StageFailed(f"{running.stage.id}: service {', '.join(dead)} died during the measurement",
                          running.logs())
    _write_rows(out_dir / "telemetry.csv", sampler.rows)
    _check_database(running, database_pids, "the measurement")
    writes_after = count_writes(admin_url)
    span = window[1] - window[0]
    result = {
        "window_start": window[0], "window_end": window[1], "window_seconds": span,
        # seconds from launch until every user had signed in; None: not all within the timeout
        "sign_in_seconds": round(signed_in - launch, 2) if signed_in else None,
        "server_cpu_seconds": sum(services_cpu.values()) + (db_cpu_after - db_cpu_before),
        "db_cpu_seconds": db_cpu_after - db_cpu_before,  # the PostgreSQL part of server_cpu_seconds
        "generator_processes": profile.processes, "generator_cores": cores,
        "rate": profile.rate, "drain_seconds": drain_seconds(profile) if profile.rate else 0.0,
        "generator_cpu_pct": 100 * (gen_after["total"] - gen_before["total"]) / span / cores,
        # what locust counted against what reached the samples files: analysis's samples_lost
        "generator_sent": locust.sent(),
        "generator_cpu_peak_pct": max((r["generator_cpu_pct"] for r in sampler.rows), default=0.0) / cores,
        "db": db_after.minus(db_before).as_record(),
        "host_speed": calibrate.window_speed(out_dir, window),
        "writes": {"before": writes_before.as_record(), "after": writes_after.as_record()},
        # where the time went when the budget was not the bound (harness/measure/waiting.py)
        # (with a tier on another node, this host's budget CPUs are not the busiest node's: their
        # busy and steal time are kept under another name, and no verdict reads them)
        "waiting": {"this_host_budget_cpus" if remote else "budget_cpus":
                    waiting.cpu_shares(budget_before, budget_after, span),
                    "load_cpus": waiting.cpu_shares(load_before, load_after, span),
                    "other_processes": waiting.busiest_others(others_before, others_after, ours, span),
                    **waiting.window_evidence(sampler.rows, window)},
    }
    if "workers" in gen_after:
        # the workers' CPU as their nodes read it, and as this host reads those running here
        result["generator_workers_cpu"] = {"node_readers": gen_after["workers"] - gen_before["workers"],
                                           "this_host": gen_after["here_workers"] - gen_before["here_workers"]}
    if nodes_before is not None and nodes_after is not None:
        # the same window's CPU per tier as each tier's node read it from its tasks' cgroups
        result["node_cpu_seconds"] = tiers = {name: nodes_after[name] - nodes_before[name] for name in nodes_after}
        if remote:
            result.update(remote_server_cpu(tiers, remote))
    if wire is not None:
        network = window_record(wire.rtt_ms, wire_before, wire_after, wire_cpu_after - wire_cpu_before,
                                probe_samples(wire.probe_path, window), span)
        result["network"] = {**network, "niceness": wire.niceness()}
    elif (real := running.measured_network(window)) is not None:
        result["network"] = real
    if profiled_record is not None:
        result["profile"] = profiled_record
    write_json(out_dir / "measurement.json", result)
    return result


def remote_server_cpu(tiers: dict[str, float], remote: dict[str, str]) -> dict[str, Any]:
    """With tiers on other nodes, the server side's CPU is the node readers' (this host sees only
    its own tiers' processes), and each node's tiers are bound by the budget's CPUs of that node:
    `node_busy_seconds` per node, the busiest of which the verdict takes (analysis)."""
    per_node: dict[str, float] = {}
    for tier, seconds in tiers.items():
        node = remote.get(tier, "this host")
        per_node[node] = per_node.get(node, 0.0) + seconds
    return {"server_cpu_seconds": sum(tiers.values()), "db_cpu_seconds": tiers.get(DATABASE_TIER, 0.0),
            "server_cpu_read_by": "node readers", "remote_tiers": remote, "node_busy_seconds": per_node}


def _waiting_probes(running: RunningStage, pids: dict[str, int],
                    activity: waiting.DbActivity) -> list[Callable[[], dict[str, float]]]:
    """Per-second evidence of where the stage waits: the edge's accept queue, PostgreSQL's
    sessions by state, each service's CPU (`pids`: each service's main process)."""
    edge = running.stage.edge  # it listens on its manifest's port in its own network namespace

    def edge_queue() -> dict[str, float]:
        queued = waiting.accept_queue(pids[edge.name], edge.port) if edge.name in pids else None
        return {"edge_queue": float("nan") if queued is None else float(queued)}
    return [edge_queue, activity.sample, waiting.service_cpu(pids)]


def _write_rows(path: Path, rows: list[dict[str, float]]) -> None:
    if not rows:
        return
    with open(path, "w", newline="") as out:
        # a probe that failed in some second leaves its keys out of that row
        fields = list(dict.fromkeys(key for row in rows for key in row))
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
