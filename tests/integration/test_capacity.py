"""`harness capacity` for real: steps of load, the best step within the p95 target, the chart."""

from pathlib import Path

import pandas as pd

from harness.reporting.analysis import BUDGET_BOUND_PCT
from harness.runs.capacity import capacity_of
from tests.conftest import run_harness


def test_capacity_of_picks_the_best_step_within_the_target() -> None:
    steps = pd.DataFrame({"users": [2, 10, 40], "rps": [50.0, 150.0, 160.0], "p95_ms": [20.0, 150.0, 900.0]})
    assert capacity_of(steps, 200.0) == {"capacity_rps": 150.0, "at_users": 10, "p95_ms": 150.0}
    assert capacity_of(steps, 10.0)["capacity_rps"] == 0.0


def test_capacity_command_measures_steps_and_draws_the_chart(results_dir: Path) -> None:
    done = run_harness("capacity", "--backend", "local", "--stages", "s0-baseline", "--stages", "s4-queries",
                       "--steps", "2,8", "--duration", "4", "--warmup", "1",
                       env={"LADDER_RESULTS_DIR": str(results_dir)}, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = list(results_dir.iterdir())
    steps = pd.read_csv(run / "capacity_steps.csv")
    assert len(steps) == 4 and (steps["requests"] > 0).all()
    # every step says what bound it, from the same figures as a ladder stage's
    for _, step in steps.iterrows():  # the rule on the step's own figures (loopback: never the wire)
        saturated = pd.notna(step.get("generator_bound")) and bool(step.get("generator_bound"))
        assert step["bound_by"] == ("generator" if saturated else "budget"
                                    if step["server_busy_pct"] >= BUDGET_BOUND_PCT else "waiting"), step
    assert steps["server_busy_pct"].between(1, 100).all() and "edge_queue_mean" in steps
    # each step's figures are its own stage's: s0's N+1 and blocking calls cost more CPU and more
    # statements per request than s4's at every step (fails if a step read the other stage's window)
    by_stage = steps.groupby("stage")
    assert by_stage["cpu_s_per_1k"].min()["s0-baseline"] > by_stage["cpu_s_per_1k"].max()["s4-queries"]
    # (statements over both of s0's steps: a 4 s window holds few of its requests, so one step's mix wanders)
    assert by_stage["statements_per_req"].mean()["s0-baseline"] > 2 * by_stage["statements_per_req"].max()[
        "s4-queries"]
    assert done.stdout.count("bound by ") >= 4
    capacity = pd.read_csv(run / "capacity.csv").set_index("stage")
    assert capacity.loc["s4-queries", "capacity_rps"] > capacity.loc["s0-baseline", "capacity_rps"]
    # what bound the capacity is what bound the step it was read from (s0 may have no step within the target)
    best = steps[(steps["stage"] == "s4-queries") & (steps["users"] == capacity.loc["s4-queries", "at_users"])]
    assert capacity.loc["s4-queries", "bound_by"] == best["bound_by"].item()
    assert "## Capacity per stage" in (run / "report.md").read_text()
