"""The CPU budget is enforced by the kernel, not just recorded."""

import json
from pathlib import Path

from tests.conftest import run_harness


def _ladder_cgroups() -> list[Path]:
    return [*Path("/sys/fs/cgroup").glob("ladder-*"), *Path("/sys/fs/cgroup/cpu").glob("ladder-*")]


def test_a_cpu_quota_caps_the_server_side_and_is_removed_afterwards(results_dir: Path) -> None:
    done = run_harness("run-all", "--backend", "local", "--quick", "--stages", "s4-queries", "--cpu-quota", "0.3",
                       env={"LADDER_RESULTS_DIR": str(results_dir)}, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = list(results_dir.iterdir())
    meta = json.loads((run / "run.json").read_text())
    assert meta["budget"]["cpu_quota"] == 0.3
    assert "CPU quota (cgroup v" in meta["budget"]["enforced"]
    measured = json.loads((run / "stages/s4-queries/measurement.json").read_text())
    # the whole server side (apps + PostgreSQL) used at most the quota, with a little slack
    assert measured["server_cpu_seconds"] / measured["window_seconds"] <= 0.36
    assert not _ladder_cgroups()


def test_without_a_quota_the_server_side_may_use_its_whole_cpu(results_dir: Path) -> None:
    done = run_harness("run-all", "--backend", "local", "--quick", "--stages", "s4-queries",
                       env={"LADDER_RESULTS_DIR": str(results_dir)}, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = list(results_dir.iterdir())
    meta = json.loads((run / "run.json").read_text())
    assert meta["budget"]["enforced"] == "affinity"
    measured = json.loads((run / "stages/s4-queries/measurement.json").read_text())
    # saturated, pinned to one CPU: close to one CPU's worth, never more
    assert 0.6 <= measured["server_cpu_seconds"] / measured["window_seconds"] <= 1.05
    # PostgreSQL's part of it is counted on its own: a real part (s4 still queries every request,
    # ~7 % of its CPU in the reference runs) but not most of it
    assert 0.02 <= measured["db_cpu_seconds"] / measured["server_cpu_seconds"] <= 0.5
