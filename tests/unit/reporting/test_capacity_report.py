"""A capacity run's tables and report from a steps table: the capacity, the step it was read at
and what bound that step (worked out by hand below)."""

from pathlib import Path

import pandas as pd

from harness.run_folder import write_json
from harness.runs.capacity import capacities

STEPS = pd.DataFrame({
    "stage": ["s0-slow", "s0-slow", "s1-fast", "s1-fast", "s1-fast"],
    "order": [0, 0, 1, 1, 1],
    "users": [2, 8, 2, 8, 32],
    "rps": [10.0, 11.0, 40.0, 95.0, 99.0],
    "p50_ms": [90.0, 500.0, 30.0, 60.0, 250.0],
    "p95_ms": [150.0, 900.0, 50.0, 180.0, 700.0],
    "fail_rate": [0.0, 0.0, 0.0, 0.0, 0.01],
    # s0 waits with CPU to spare at its best step; s1's best step (8 users) fills the budget
    "bound_by": ["waiting", "waiting", "waiting", "budget", "budget"],
    "server_busy_pct": [40.0, 45.0, 60.0, 97.0, 99.0],
    "cpu_s_per_1k": [30.0, 30.0, 9.0, 9.5, 9.9],
    "host_speed": [25_000.0] * 5,
})


def test_each_capacity_names_its_step_and_what_bound_it(tmp_path: Path) -> None:
    write_json(tmp_path / "run.json", {"kind": "capacity", "backend": "local", "steps": [2, 8, 32],
                                       "budget": {"server_cpus": "1", "load_cpus": "0", "cpu_quota": None},
                                       "load": {"warmup": 2, "duration": 8}, "network": {"rtt_ms": 1.0}})
    summary = capacities(tmp_path, STEPS, 200.0)
    assert list(summary["capacity_rps"]) == [10.0, 95.0]  # 11 and 99 req/s came past the target
    assert list(summary["bound_by"]) == ["waiting", "budget"]
    assert list(pd.read_csv(tmp_path / "capacity.csv")["bound_by"]) == ["waiting", "budget"]
    report = (tmp_path / "report.md").read_text()
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in report.split("## Every step")[0].splitlines() if line.startswith("| s")}
    assert rows["s0-slow"][2:] == ["2 users", "150", "waiting"]
    assert rows["s1-fast"][1] == "×9.50" and rows["s1-fast"][2:] == ["8 users", "180", "budget"]
    assert "1 ms RTT between the tiers" in report and "![capacity](capacity.png)" in report
    steps = [[c.strip() for c in line.split("|")[1:-1]]
             for line in report.split("## Every step")[1].splitlines() if line.startswith("| s")]
    assert steps[-1] == ["s1-fast", "32 users", "99.0", "250", "700", "1.0%", "budget", "99", "9.90", "25,000", "no"]
