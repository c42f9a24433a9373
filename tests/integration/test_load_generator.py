"""More load than one locust process gives: `--processes` through the harness, and the
master/worker mode the README documents for load from several machines, both on loopback
against a real stage."""

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from harness.backends.base import RunningStage
from harness.backends.local import run_environment, running_stage
from harness.cpu import CpuBudget, available_cpus
from harness.load.samples import latency_stats, load_samples
from harness.load.shape import LOCUSTFILE, LoadShape
from harness.manifests.manifest import discover
from harness.measure.window import measure
from harness.settings import HarnessSettings
from tests.conftest import REPO

STAGE = "s4-queries"


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningStage, object]]:
    budget = CpuBudget.default()
    (manifest,) = [s for s in discover() if s.id == STAGE]
    logs = tmp_path_factory.mktemp("logs")
    with run_environment(budget, HarnessSettings()) as env, running_stage(env, manifest, logs) as running:
        yield running, env


def test_locust_processes_split_the_users_and_every_worker_reports(
        stage: tuple[RunningStage, object], tmp_path: Path) -> None:
    running, env = stage
    cpus = frozenset(available_cpus())  # two processes need two cores; this test checks function, not speed
    result = measure(running, env.admin_url, env.database_pids,  # type: ignore[attr-defined]
                     LoadShape(users=10, warmup=1, duration=4, processes=2), cpus, tmp_path)
    workers = sorted(p.name for p in tmp_path.glob("samples*.csv"))
    assert workers == ["samples.w0.csv", "samples.w1.csv"], workers
    per_worker = [len(pd.read_csv(tmp_path / name)) for name in workers]
    assert all(n > 0 for n in per_worker), per_worker
    stats = latency_stats(load_samples(tmp_path), result["window_seconds"])
    # the files hold every request from launch; the window leaves sign-in and warm-up out
    assert 0 < stats["requests"] < sum(per_worker) and stats["failures"] == 0
    assert sorted(p.name for p in tmp_path.glob("ready*")) == ["ready.w0", "ready.w1"]
    assert result["sign_in_seconds"] is not None
    assert result["generator_processes"] == 2 and result["generator_cores"] == min(2, len(cpus))
    # every request the workers sent (the master's aggregate of their reports) is in a samples
    # file: fails if a worker's file is missing, cut short, or its last report not counted
    assert result["generator_sent"] == sum(per_worker)


def test_the_window_opens_a_warm_up_after_every_user_signed_in(
        stage: tuple[RunningStage, object], tmp_path: Path) -> None:
    running, env = stage
    users = 30
    result = measure(running, env.admin_url, env.database_pids,  # type: ignore[attr-defined]
                     LoadShape(users=users, warmup=2, duration=4), frozenset(CpuBudget.default().load), tmp_path)
    signed_in = float((tmp_path / "ready").read_text())
    assert result["window_start"] == pytest.approx(signed_in + 2)
    everything = pd.read_csv(tmp_path / "samples.csv")
    first_logins = everything[everything["name"] == "/api/login"].sort_values("completed_at").head(users)
    assert len(first_logins) == users and first_logins["completed_at"].max() <= signed_in
    window = load_samples(tmp_path)
    assert window["completed_at"].min() >= result["window_start"]
    assert window["completed_at"].max() <= result["window_end"]
    assert len(window) < len(everything)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_master_and_workers_on_loopback_as_the_readme_shows(
        stage: tuple[RunningStage, object], tmp_path: Path) -> None:
    """Workers as on other machines: no LADDER_* file of their own, another working folder; what
    they recorded reaches the master's folder over locust's connection."""
    running, _ = stage
    port = _free_port()
    results, elsewhere = tmp_path / "results", tmp_path / "load-machine"
    results.mkdir()
    elsewhere.mkdir()
    base = {k: v for k, v in os.environ.items() if not k.startswith("LADDER_")}
    master_env = {**base, "LADDER_SAMPLES_FILE": str(results / "samples.csv"),
                  "LADDER_READY_FILE": str(results / "ready"), "PYTHONPATH": str(REPO)}
    locust = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    master = subprocess.Popen(
        [*locust, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
         "--headless", "--expect-workers", "2", "-u", "10", "-r", "10", "-t", "6s", "--json", "--only-summary",
         "--host", running.base_url],
        cwd=REPO, env=master_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers = [subprocess.Popen([*locust, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                                cwd=elsewhere, env={**base, "PYTHONPATH": str(REPO)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    try:
        out, err = master.communicate(timeout=120)
        for worker in workers:
            worker.wait(timeout=30)
    finally:
        for proc in (master, *workers):
            if proc.poll() is None:
                proc.kill()
    assert master.returncode == 0, err
    stats = {entry["name"]: entry["num_requests"] for entry in json.loads(out)}
    assert stats.get("/api/dashboard", 0) > 0 and stats.get("/api/reports/[id]", 0) > 0, stats
    assert sum(entry["num_failures"] for entry in json.loads(out)) == 0
    assert sorted(p.name for p in results.iterdir()) == ["ready.w0", "ready.w1", "samples.w0.csv", "samples.w1.csv"]
    assert not list(elsewhere.iterdir())  # nothing left on the load machines
    # every request locust counted is a row in the master's folder: fails if a worker's rows were
    # cut short, sent before its users stopped, or never handed in
    rows = sum(len(pd.read_csv(results / name)) for name in ("samples.w0.csv", "samples.w1.csv"))
    assert rows == sum(stats.values())
