"""One measurement: locust's users sign in, warm up, then a fixed-length window of load, with
telemetry around it."""

import csv
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from harness import interrupts
from harness.backends.base import DATABASE_TIER, RunningStage
from harness.errors import NodeLost, StageFailed
from harness.load.shape import (
    DROPPED,
    SIGN_IN_TIMEOUT_SECONDS,
    LoadShape,
    LocustRun,
    drain_seconds,
    ready_files,
)
from harness.measure import host_speed, waiting
from harness.measure.counters import read_counters
from harness.measure.database import DatabaseWatch
from harness.measure.profiler import PROFILE_DIR, Profiler
from harness.measure.telemetry import Sampler, services_cpu_seconds, tree_cpu_seconds
from harness.measure.writes import LADDER_WRITES, WritesRule
from harness.network.emulator import probe_samples, window_record
from harness.run_folder import write_json

Tick = Callable[[str, float], None]  # (phase, seconds left)


def _check_database(running: RunningStage, database: DatabaseWatch | None, phase: str) -> None:
    """The stage's PostgreSQL runs, or came back (a restart, recorded); else the stage fails."""
    if database is not None:
        database.check(f"{running.stage.id}: PostgreSQL died during {phase}", running.logs)


def _sleep_until(moment: float, phase: str, tick: Tick | None, running: RunningStage,
                 database: DatabaseWatch | None = None) -> None:
    while (left := moment - time.time()) > 0:
        interrupts.check()
        _check_database(running, database, phase)
        if lost := running.lost_nodes():  # a node's tier gone: no later stage can run there either
            raise NodeLost(f"{running.stage.id}: {', '.join(lost)} lost during {phase}", {})
        if dead := running.dead_services():
            raise StageFailed(f"{running.stage.id}: service {', '.join(dead)} died during {phase}",
                              running.logs())
        if tick:
            tick(phase, left)
        time.sleep(min(0.5, left))


def locust_failed(running: RunningStage, locust: LocustRun, what: str) -> StageFailed:
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
                      running: RunningStage, locust: LocustRun, database: DatabaseWatch) -> float | None:
    """When the last locust process said all its users signed in; None if not by the deadline."""
    while True:
        interrupts.check()
        if all(f.is_file() for f in files):
            return max(float(f.read_text()) for f in files)
        if time.time() > deadline:
            return None
        if locust.process.poll() is not None:
            raise locust_failed(running, locust, f"exited with code {locust.process.returncode}")
        if dead := running.dead_services():
            raise StageFailed(f"{running.stage.id}: service {', '.join(dead)} died during sign-in", running.logs())
        _check_database(running, database, "sign-in")
        if tick:
            tick("sign-in", 0.0)
        time.sleep(0.2)


def measure(running: RunningStage, admin_url: str, database_pids: Callable[[], list[int]], shape: LoadShape,
            load_cpus: frozenset[int], out_dir: Path, tick: Tick | None = None,
            server_cpus: frozenset[int] = frozenset(), profiled: bool = False,
            writes: WritesRule = LADDER_WRITES) -> dict[str, Any]:
    """Sign-in, then warm-up, then the window. The window opens a warm-up after every user has
    signed in, not at a fixed time: the sign-in stampede lasts 1 s on the optimized stage and
    about a minute on the baseline, and a fixed window would measure it there. With
    `server_cpus`, the host's speed on them is watched throughout (harness.measure.host_speed).
    `profiled`: py-spy samples every service through the window (harness.measure.profiler).
    `writes`: which answers are acknowledged writes and the rows they must leave (the ladder's exports).
    `database_pids`: where the stage's PostgreSQL runs now (harness.measure.database: a restart
    in the window is recorded and the window goes on)."""
    writes_before = writes.count(admin_url)  # after verify's own export: only the load's writes count
    launch = time.time()
    services = running.service_pids()
    app_pids = list(services.values())
    remote = running.remote_tiers()  # tiers on other nodes: their CPU is what their nodes read
    database = DatabaseWatch(admin_url, database_pids, server_cpus or None)
    activity = waiting.DbActivity(admin_url)
    sampler: Sampler | None = None
    watchers: host_speed.Watchers | None = None
    profiler: Profiler | None = None
    profiled_record: dict[str, Any] | None = None
    # from here every exit goes through the finally below: the generator never outlives a failure
    locust = running.start_load(shape, load_cpus, out_dir)
    try:
        # the generator's CPU as a share of what it can use: one core per process, at most the load
        # CPUs here; a worker on another node has its node's core
        here = shape.processes if locust.workers_cpu is None else len(locust.worker_pids())
        cores = (min(here, len(load_cpus)) + shape.processes - here) or 1
        sampler = Sampler(app_pids, locust.pids(), db_cpu=database.cpu_seconds,
                          probes=_waiting_probes(running, services, activity))
        watchers = host_speed.Watchers.start(server_cpus, out_dir)
        if profiled:
            profiler = Profiler(services, shape.duration, load_cpus, out_dir / PROFILE_DIR)
        sampler.start()
        signed_in = _wait_for_sign_in(ready_files(out_dir, shape.processes), launch + SIGN_IN_TIMEOUT_SECONDS,
                                      tick, running, locust, database)
        opens = (signed_in or time.time()) + shape.warmup
        window = (opens, opens + shape.duration)
        _sleep_until(window[0], "warm-up", tick, running, database)
        restarts_before = len(database.restarts)
        # the server side is the apps plus the database: each tree walked once, summed below; the
        # apps' per service, for the profile's shares (harness.reporting.layers)
        db_before, services_before = read_counters(admin_url), services_cpu_seconds(services)
        nodes_before = running.node_cpu_seconds()
        db_cpu_before, gen_before = database.cpu_seconds(), _generator_cpu(locust)
        budget_before, load_before = waiting.cpu_times(server_cpus), waiting.cpu_times(load_cpus)
        others_before = waiting.process_times()
        wire = running.wire
        if wire is not None:  # the wire is measured like the generator: its CPU, and what it held
            wire_before, wire_cpu_before = wire.stats(), tree_cpu_seconds([wire.pid])
        if profiler is not None:
            profiler.start()
        _sleep_until(window[1], "measure", tick, running, database)
        db_after, services_after = read_counters(admin_url), services_cpu_seconds(services)
        nodes_after = running.node_cpu_seconds()
        services_cpu = {name: services_after[name] - services_before[name] for name in services}
        db_cpu_after, gen_after = database.cpu_seconds(), _generator_cpu(locust)
        budget_after, load_after = waiting.cpu_times(server_cpus), waiting.cpu_times(load_cpus)
        others_after = waiting.process_times()
        # the run's own: the harness and all it started, the stage's processes (containers' too), the database
        ours = waiting.run_tree([os.getpid(), *app_pids, *database.pids, *locust.pids(),
                                 *([wire.pid] if wire is not None else [])])
        if wire is not None:
            wire_after, wire_cpu_after = wire.stats(), tree_cpu_seconds([wire.pid])
        if profiler is not None:  # py-spy stops by itself a window after it started
            if tick:
                tick("profile", 0.0)
            profiled_record = profiler.stop(window_cpu=services_cpu)
        if shape.rate:  # requests due in the window get their answer time (what stays unanswered counts)
            _sleep_until(window[1] + drain_seconds(shape), "drain", tick, running, database)
        if locust.process.poll() is not None:
            raise locust_failed(running, locust,
                                 f"stopped before the window closed (code {locust.process.returncode})")
    except psycopg.OperationalError:  # a reading of the database failed: because it died?
        _check_database(running, database, "the measurement")
        raise
    finally:
        with interrupts.deferred():
            if profiler is not None and profiled_record is None:
                profiler.stop(grace=0)  # stopped early: no py-spy outlives the window
            if sampler is not None:
                sampler.stop()
            if watchers is not None:
                watchers.stop()
            locust.stop()  # graceful: it writes the samples on the way out
            activity.close()
    if locust.process.returncode != 0:
        raise locust_failed(running, locust, f"exited with code {locust.process.returncode}")
    sent, recorded = locust.sent(), recorded_rows(out_dir)
    if sent is not None and sent > recorded:
        # a worker died (or its samples never reached the master): the figures would be of fewer
        # requests than were sent, silently; the stage is not measured, and the count says why
        raise StageFailed(f"{running.stage.id}: the load generator lost a worker: {sent - recorded:,} of the "
                          f"{sent:,} requests it counted are in no samples file; not measured",
                          {"locust": locust.stderr.read_text(errors="replace")[-3000:]})
    if dead := running.dead_services():
        raise StageFailed(f"{running.stage.id}: service {', '.join(dead)} died during the measurement",
                          running.logs())
    assert sampler is not None  # made in the try, or the try raised
    _write_rows(out_dir / "telemetry.csv", sampler.rows)
    _check_database(running, database, "the measurement")
    writes_after = writes.count(admin_url)
    span = window[1] - window[0]
    result = {
        "window_start": window[0], "window_end": window[1], "window_seconds": span,
        # seconds from launch until every user had signed in; None: not all within the timeout
        "sign_in_seconds": round(signed_in - launch, 2) if signed_in else None,
        "server_cpu_seconds": sum(services_cpu.values()) + (db_cpu_after - db_cpu_before),
        "db_cpu_seconds": db_cpu_after - db_cpu_before,  # the PostgreSQL part of server_cpu_seconds
        "generator_processes": shape.processes, "generator_cores": cores,
        "rate": shape.rate, "drain_seconds": drain_seconds(shape) if shape.rate else 0.0,
        "generator_cpu_pct": 100 * (gen_after["total"] - gen_before["total"]) / span / cores,
        # what locust counted against what reached the samples files: analysis's samples_lost
        "generator_sent": locust.sent(),
        "generator_cpu_peak_pct": max((r["generator_cpu_pct"] for r in sampler.rows), default=0.0) / cores,
        "db": db_after.minus(db_before).as_record(),
        # PostgreSQL went away and came back: when, for how long (the stage's, and the window's)
        "database_restarts": database.record(),
        "restarts_in_window": len(database.restarts) - restarts_before,
        "host_speed": host_speed.window_speed(out_dir, window),
        "writes": writes.record(writes_before, writes_after),
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


def recorded_rows(out_dir: Path) -> int:
    """The requests the samples files hold (the open model's dropped ones were never sent)."""
    total = 0
    for path in out_dir.glob("samples*.csv"):
        with open(path, newline="") as rows:
            reader = csv.reader(rows)
            next(reader, None)
            total += sum(1 for row in reader if row and row[0] != DROPPED)
    return total


def _write_rows(path: Path, rows: list[dict[str, float]]) -> None:
    if not rows:
        return
    with open(path, "w", newline="") as out:
        # a probe that failed in some second leaves its keys out of that row
        fields = list(dict.fromkeys(key for row in rows for key in row))
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
