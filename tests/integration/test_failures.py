"""What users see when things go wrong, and that nothing is left running afterwards."""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from tests.conftest import HARNESS, REPO, run_harness, stage_phase
from tests.conftest import leftover_processes as _leftovers

BROKEN = """
id = "s90-broken"
order = 90
title = "A variant whose services crash at start"
fix = "none"
removes = "nothing"

[adapters]
db = "no_such_module.db"
rpc = "baseline.rpc"
queries = "baseline.queries"

[server]
kind = "uvicorn"

[[services]]
name = "core-api"
app = "stages.s1_consolidated.services.core_api:app"
port = 8000
edge = true
"""


def _pg_dirs() -> set[str]:
    return {p.name for p in Path("/tmp").glob("ladder-pg-*")}


def test_a_stage_that_crashes_at_start_is_recorded_and_the_run_goes_on(tmp_path: Path, results_dir: Path) -> None:
    variant = tmp_path / "variants" / "broken"
    variant.mkdir(parents=True)
    (variant / "manifest.toml").write_text(BROKEN)
    before = _pg_dirs()
    done = run_harness("run-all", "--backend", "local", "--quick", "--no-ceiling",
                       "--stages", "s90-broken", "--stages", "s8-one-round-trip",
                       env={"LADDER_RESULTS_DIR": str(results_dir), "LADDER_EXTRA_STAGES": str(tmp_path / "variants")},
                       timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "s90-broken" in done.stdout and "core-api exited at start" in done.stdout
    (run,) = list(results_dir.iterdir())
    summary = pd.read_csv(run / "summary.csv").set_index("stage")
    assert summary.loc["s8-one-round-trip", "status"] == "ok"
    assert summary.loc["s90-broken", "status"] == "failed"
    log = (run / "stages/s90-broken/logs/core-api.log").read_text()
    assert "No module named 'no_such_module'" in log
    meta = json.loads((run / "stages/s90-broken/stage.json").read_text())
    assert "core-api exited at start" in meta["error"]
    assert json.loads((run / "run.json").read_text())["status"] == "complete-with-failures"
    assert not _leftovers()
    assert _pg_dirs() <= before


def test_a_port_in_use_is_one_clear_line(results_dir: Path) -> None:
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", 8003))
        blocker.listen()
        done = run_harness("run-all", "--backend", "local", "--quick", "--stages", "s1-consolidated",
                           env={"LADDER_RESULTS_DIR": str(results_dir)}, timeout=300)
    # a user error (exit 2, one line on stderr), not a stage that failed (exit 1): fails if the port
    # check moved inside the stage's start, where it would be recorded as the stage's failure
    assert done.returncode == 2, done.stdout + done.stderr
    assert "port 8003 is in use (needed by jobs of s1-consolidated)" in done.stderr
    assert "Traceback" not in done.stderr
    assert not _leftovers()


def _wait_for(predicate, timeout: float, step: float = 0.5) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def _start_run(results_dir: Path, duration: str, *stages: str, extra: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    """A small local run-all in the background, to be interrupted or broken mid-way."""
    picked = [arg for stage in stages for arg in ("--stages", stage)]
    return subprocess.Popen(
        [*HARNESS, "run-all", "--backend", "local", "--no-same-traffic", "--idle-timeout", "0",
         "--users", "10", "--warmup", "2", "--duration", duration, *picked, *extra],
        cwd=REPO, env={**os.environ, "LADDER_RESULTS_DIR": str(results_dir)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _stop(proc: subprocess.Popen[str]) -> None:
    """After a failed wait: SIGTERM, so the run tears down what it started and the next tests
    find a clean machine; SIGKILL only if it will not stop."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _locust_running() -> bool:
    return any("locustfile.py" in " ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"]))


def _cgroups() -> set[str]:
    return {p.name for p in Path("/sys/fs/cgroup").glob("**/ladder-*")}


def test_an_interrupt_keeps_what_was_measured(results_dir: Path) -> None:
    before = _pg_dirs()
    proc = _start_run(results_dir, "4", "s7-sql", "s8-one-round-trip")
    try:
        assert _wait_for(lambda: stage_phase(results_dir, "s8-one-round-trip") == "measure", 480), \
            "the run never reached the second stage's measurement"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        _stop(proc)
    assert proc.returncode == 130, out + err
    (run,) = list(results_dir.iterdir())
    said = " ".join(err.split())
    assert f"interrupted in s8-one-round-trip: measure; everything it started is stopped, " \
           f"what it measured is in {run}/" in said
    summary = pd.read_csv(run / "summary.csv").set_index("stage")
    assert summary.loc["s7-sql", "status"] == "ok" and summary.loc["s7-sql", "requests"] > 0
    assert summary.loc["s8-one-round-trip", "status"] == "interrupted"
    assert (run / "ladder.png").is_file()  # charts of what was measured
    assert not _leftovers(), _leftovers()
    assert _pg_dirs() <= before


# A variant that takes seconds to stop (its edge finishes its lifespan slowly), so that a
# signal can land in the teardown phase, not just before or after it.
SLOW_STOP_EDGE = """
import asyncio

from stages.s1_consolidated.services.core_api import app as inner


async def app(scope, receive, send):
    if scope["type"] != "lifespan":
        return await inner(scope, receive, send)

    async def slow_send(message):
        if message["type"] == "lifespan.shutdown.complete":
            await asyncio.sleep(4)
        await send(message)

    return await inner(scope, receive, slow_send)
"""


def _slow_stop_variant(tmp_path: Path) -> Path:
    variants = tmp_path / "variants"
    folder = variants / "slow_stop"
    folder.mkdir(parents=True)
    manifest = (REPO / "stages/s1_consolidated/manifest.toml").read_text()
    manifest = manifest.replace('id = "s1-consolidated"', 'id = "s91-slow-stop"').replace(
        "order = 1\n", "order = 91\n").replace("stages.s1_consolidated.services.core_api:app", "slow_stop.edge:app")
    (folder / "manifest.toml").write_text(manifest)
    (folder / "edge.py").write_text(SLOW_STOP_EDGE)
    return variants


PHASES = ["start", "verify", "sign-in", "warm-up", "measure", "teardown"]
# Ctrl-C and SIGTERM share one handler (harness.interrupts): each phase is stopped by one of them,
# taking turns, so both signals are met, in every kind of phase, without measuring each pair twice
SIGNALS = [signal.SIGINT, signal.SIGTERM]


@pytest.mark.parametrize(("sig", "phase"), [(SIGNALS[i % 2], phase) for i, phase in enumerate(PHASES)],
                         ids=[f"{SIGNALS[i % 2].name}-{phase}" for i, phase in enumerate(PHASES)])
def test_a_signal_in_any_phase_stops_everything(
        tmp_path: Path, results_dir: Path, sig: signal.Signals, phase: str) -> None:
    before_pg, before_cgroups = _pg_dirs(), _cgroups()
    # s1: its sign-in and warm-up last long enough to be caught; its slow-stopping copy only where
    # the signal must land in the teardown (elsewhere its 4 s stop would only lengthen the test)
    stage = "s91-slow-stop" if phase == "teardown" else "s1-consolidated"
    proc = subprocess.Popen(
        [*HARNESS, "run-all", "--backend", "local", "--no-same-traffic",
         "--stages", stage,
         "--users", "10", "--warmup", "2", "--duration", "3", "--no-ceiling", "--idle-timeout", "0",
         "--cpu-quota", "1"],
        cwd=REPO, env={**os.environ, "LADDER_RESULTS_DIR": str(results_dir),
                       "LADDER_EXTRA_STAGES": str(_slow_stop_variant(tmp_path)), "COLUMNS": "200"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert _wait_for(lambda: stage_phase(results_dir, stage) == phase, 180, step=0.05), \
            f"the run never reached {phase}"
        proc.send_signal(sig)
        if phase == "teardown":
            time.sleep(0.5)
            proc.send_signal(sig)  # an impatient second signal must not cut the teardown short
        out, err = proc.communicate(timeout=120)
    finally:
        _stop(proc)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err, err
    (run,) = list(results_dir.iterdir())
    meta = json.loads((run / "run.json").read_text())
    stage_meta = json.loads((run / "stages" / stage / "stage.json").read_text())
    assert meta["status"] == "interrupted"
    if phase == "teardown":
        # the measurement had finished: it is kept, and the stop is honoured once teardown ends
        assert stage_meta["status"] == "ok" and stage_meta["phase"] == "teardown"
        assert meta["interrupted_in"] == f"{stage}: teardown, measured"
        assert pd.read_csv(run / "summary.csv").set_index("stage").loc[stage, "requests"] > 0
    else:
        assert stage_meta["status"] == "interrupted" and stage_meta["phase"] == phase
        assert meta["interrupted_in"] == f"{stage}: {phase}"
    assert f"interrupted in {meta['interrupted_in']}" in " ".join(err.split())
    assert not _leftovers(), _leftovers()
    assert _pg_dirs() <= before_pg
    assert _cgroups() <= before_cgroups


def test_postgres_binaries_missing_is_one_line(results_dir: Path, tmp_path: Path) -> None:
    done = run_harness("run-all", "--backend", "local", "--quick", env={"LADDER_RESULTS_DIR": str(results_dir),
                                                  "LADDER_PG_BINDIR": str(tmp_path / "nothing")}, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().endswith("has no postgres and initdb binaries")
    assert len(done.stderr.strip().splitlines()) == 1


def test_postgres_failing_to_start_is_one_line_and_leaves_nothing(results_dir: Path) -> None:
    bindir = Path(tempfile.mkdtemp(prefix="fake-pg-"))
    try:
        bindir.chmod(0o755)
        for name in ("initdb", "postgres"):
            script = bindir / name
            script.write_text("#!/bin/sh\necho 'FATAL: could not create data directory' >&2\nexit 1\n")
            script.chmod(0o755)
        before = _pg_dirs()
        done = run_harness("run-all", "--backend", "local", "--quick", env={"LADDER_RESULTS_DIR": str(results_dir),
                                                      "LADDER_PG_BINDIR": str(bindir)}, timeout=120)
    finally:
        shutil.rmtree(bindir)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "PostgreSQL failed to start: initdb: FATAL: could not create data directory" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert _pg_dirs() <= before


def test_a_service_dying_during_the_measurement_fails_that_stage_only(results_dir: Path) -> None:
    proc = _start_run(results_dir, "6", "s4-queries", "s8-one-round-trip")
    try:
        # killed inside s4's window: its phase says so (fails if the kill landed before or after it)
        assert _wait_for(lambda: stage_phase(results_dir, "s4-queries") == "measure", 180), \
            "the run never reached s4's measurement"
        (jobs,) = [p for p in psutil.process_iter(["cmdline"])
                   if "s1_consolidated.services.jobs:app" in " ".join(p.info["cmdline"] or [])]
        jobs.kill()
        out, err = proc.communicate(timeout=240)
    finally:
        _stop(proc)
    assert proc.returncode == 1, out + err
    # the kill lands in sign-in, warm-up or the window, depending on how fast locust started
    assert re.search(r"service jobs died during (sign-in|warm-up|measure)", " ".join(out.split())), out
    (run,) = list(results_dir.iterdir())
    summary = pd.read_csv(run / "summary.csv").set_index("stage")
    assert summary.loc["s4-queries", "status"] == "failed"
    assert summary.loc["s8-one-round-trip", "status"] == "ok" and summary.loc["s8-one-round-trip", "failures"] == 0
    assert (run / "stages/s4-queries/logs/jobs.log").is_file()
    assert not _leftovers(), _leftovers()


def test_locust_exiting_with_an_error_fails_the_stage(results_dir: Path) -> None:
    done = run_harness("run-all", "--backend", "local", "--quick", "--no-ceiling", "--stages", "s4-queries",
                       env={"LADDER_RESULTS_DIR": str(results_dir), "LADDER_SEED_USERS": "not-a-number"},
                       timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "locust exited with code" in done.stdout
    (run,) = list(results_dir.iterdir())
    meta = json.loads((run / "stages/s4-queries/stage.json").read_text())
    assert meta["status"] == "failed"
    assert "ValueError" in (run / "stages/s4-queries/locust.log").read_text()
    assert not _leftovers()


def _owned_by(pid: int) -> list[str]:
    """Processes that carry the mark of harness process `pid` (LADDER_OWNER=<pid>-<start>)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("LADDER_OWNER", "").startswith(f"{pid}-"):
                found.append(f"{proc.pid} {' '.join(proc.cmdline())}")
        except psutil.Error:
            pass
    return found


def test_sweep_removes_what_a_killed_run_left_and_keeps_what_it_measured(results_dir: Path) -> None:
    pg_before, cgroups_before = _pg_dirs(), _cgroups()
    proc = _start_run(results_dir, "5", "s3-pooled", "s4-queries", extra=("--cpu-quota", "0.9"))
    try:
        # generous: on a slow shared host the first stage alone can take two minutes
        assert _wait_for(lambda: stage_phase(results_dir, "s4-queries") == "measure", 480), \
            "the run never reached the second stage's measurement"
        proc.kill()  # SIGKILL: no teardown at all
        proc.communicate(timeout=30)
    finally:
        _stop(proc)
    left = _owned_by(proc.pid)
    assert any("uvicorn" in p for p in left) and any("postgres" in p for p in left) \
        and any("locustfile.py" in p for p in left) and any("harness.measure.host_speed" in p for p in left), left
    assert _pg_dirs() - pg_before and _cgroups() - cgroups_before
    (run,) = list(results_dir.iterdir())
    assert json.loads((run / "run.json").read_text())["status"] == "running"

    swept = run_harness("cleanup", env={"LADDER_RESULTS_DIR": str(results_dir)}, timeout=120)
    assert swept.returncode == 0, swept.stdout + swept.stderr
    out = " ".join(swept.stdout.split())
    assert "PostgreSQL folders: 1" in out and "cgroups: 1" in out and f"runs marked killed: 1 {run}" in out, out
    assert not _owned_by(proc.pid)
    assert not _leftovers()
    assert _pg_dirs() <= pg_before and _cgroups() <= cgroups_before
    header = json.loads((run / "run.json").read_text())
    assert header["status"] == "killed" and header["pid"] == proc.pid
    summary = pd.read_csv(run / "summary.csv").set_index("stage")
    assert summary.loc["s3-pooled", "status"] == "ok" and summary.loc["s3-pooled", "requests"] > 0
    assert summary.loc["s4-queries", "status"] == "killed"
    assert "the harness was killed during measure" in (run / "report.md").read_text()

    # the old name still works for a release, and says the new one
    again = run_harness("sweep", env={"LADDER_RESULTS_DIR": str(results_dir)}, timeout=120)
    assert again.returncode == 0 and "nothing left behind" in again.stdout, again.stdout + again.stderr
    assert "`harness sweep` is now `harness cleanup`" in again.stderr


def _postmaster(run_pid: int) -> psutil.Process:
    """The run's own PostgreSQL server: the `postgres` child of the harness process."""
    for child in psutil.Process(run_pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if child.name() == "postgres" and "ladder-pg-" in " ".join(child.cmdline()):
                return child
    raise AssertionError("the run's PostgreSQL is not running")


def test_postgres_killed_mid_window_is_one_line_and_names_what_did_not_run(results_dir: Path) -> None:
    before = _pg_dirs()
    proc = _start_run(results_dir, "20", "s3-pooled", "s4-queries")
    try:
        assert _wait_for(lambda: stage_phase(results_dir, "s3-pooled") == "measure", 480), \
            "the run never reached s3's measurement"
        _postmaster(proc.pid).kill()  # kill -9: the database under the stage dies
        out, err = proc.communicate(timeout=180)
    finally:
        _stop(proc)
    assert proc.returncode == 2, out + err
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "s3-pooled: PostgreSQL died during measure; not run: s4-queries, s4-queries.ceiling" in lines[0], lines[0]
    (run,) = list(results_dir.iterdir())
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "failed" and record["not_run"] == ["s4-queries", "s4-queries.ceiling"], record
    assert "PostgreSQL died during measure" in record["not_run_because"]
    stage = json.loads((run / "stages/s3-pooled/stage.json").read_text())
    assert stage["status"] == "failed" and "PostgreSQL died during measure" in stage["error"]
    assert (run / "stages/s3-pooled/samples.csv").stat().st_size > 0  # what it measured is kept
    assert not (run / "stages/s4-queries").exists()
    assert "PostgreSQL died during measure" in (run / "report.md").read_text()
    assert not _leftovers()
    assert _pg_dirs() <= before
