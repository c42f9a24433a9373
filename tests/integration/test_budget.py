"""The CPU budget is enforced by the kernel, not just recorded."""

import json
from pathlib import Path

from tests.conftest import run_harness


def _ladder_cgroups() -> list[Path]:
    return [*Path("/sys/fs/cgroup").glob("ladder-*"), *Path("/sys/fs/cgroup/cpu").glob("ladder-*")]


def test_a_cpu_quota_caps_the_server_side_and_is_removed_afterwards(results_dir: Path) -> None:
    done = run_harness("run-all", "--backend", "local", "--quick", "--stages", "s8-one-round-trip", "--no-ceiling",
                       "--cpu-quota", "0.3",
                       env={"LADDER_RESULTS_DIR": str(results_dir)}, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = list(results_dir.iterdir())
    meta = json.loads((run / "run.json").read_text())
    assert meta["budget"]["cpu_quota"] == 0.3
    assert "CPU quota (cgroup v" in meta["budget"]["enforced"]
    measured = json.loads((run / "stages/s8-one-round-trip/measurement.json").read_text())
    # the whole server side (the app + PostgreSQL) used at most the quota, with a little slack (s8: one
    # service, the quickest to start under a third of a CPU)
    assert measured["server_cpu_seconds"] / measured["window_seconds"] <= 0.36
    assert not _ladder_cgroups()
