import statistics
from pathlib import Path

import pytest

from harness.reporting.analysis import measurements, summarise
from harness.reporting.compare import compare_runs, condition_differences
from harness.run_folder import read_json, write_json
from tests.conftest import run_harness
from tests.results_fixture import make_repeated_run, write_stage


def test_repeats_are_summarised_as_median_and_spread(tmp_path: Path) -> None:
    run = make_repeated_run(tmp_path / "run", fast_rps=(40.0, 44.0, 60.0))
    assert len(measurements(run)) == 6
    fast = summarise(run).set_index("stage").loc["s1-fast"]
    assert fast["repeats"] == 3
    assert fast["rps"] == pytest.approx(44.0)  # the median, not the mean
    assert (fast["rps_min"], fast["rps_max"]) == (pytest.approx(40.0), pytest.approx(60.0))
    assert fast["rps_cv"] == pytest.approx(statistics.stdev([40, 44, 60]) / statistics.mean([40, 44, 60]))
    assert fast["requests"] == 400 + 440 + 600


A_RPS = (40.0, 40.4, 40.8, 40.2)


@pytest.mark.parametrize("b_rps, verdict", [
    ((80.0, 82.0, 81.0, 80.5), "faster"),  # the same CPU-seconds over twice the requests
    ((20.0, 21.0, 20.5, 20.2), "slower"),
    ((40.1, 40.5, 40.7, 40.3), "no change larger than"),
    ((30.0, 70.0, 40.0, 55.0), "undecided"),  # B's windows too spread to tell
    ((80.0, 82.0), "not enough data"),  # two windows a side: no interval worth the name
])
def test_compare_calls_a_change_from_its_interval(tmp_path: Path, b_rps: tuple[float, ...], verdict: str) -> None:
    a = make_repeated_run(tmp_path / "a", fast_rps=A_RPS)
    b = make_repeated_run(tmp_path / "b", fast_rps=b_rps)
    fast = {c.stage: c for c in compare_runs(a, b)}["s1-fast"]
    assert fast.verdict == verdict
    assert fast.changes[0].figure.name == "cpu" and not fast.changes[0].paired  # two runs: not paired


def test_compare_command_gates_on_regressions_and_says_when_it_cannot_call(tmp_path: Path) -> None:
    a = make_repeated_run(tmp_path / "a", fast_rps=A_RPS)
    better = make_repeated_run(tmp_path / "better", fast_rps=(80.0, 82.0, 81.0, 80.5))
    worse = make_repeated_run(tmp_path / "worse", fast_rps=(20.0, 21.0, 20.5, 20.2))
    ok = run_harness("compare", str(a), str(better))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "faster" in ok.stdout
    bad = run_harness("compare", f"{a}:s1-fast", f"{worse}:s1-fast")
    assert bad.returncode == 1
    first = bad.stdout.splitlines()[0]
    assert "worse against a: SLOWER" in first and "CPU per request +" in first, bad.stdout
    assert "95 % confidence" in first
    assert (worse / "compare-a-s1-fast-to-s1-fast.md").read_text().startswith("**worse against a: SLOWER")
    once = make_repeated_run(tmp_path / "once", fast_rps=(40.0,))
    twice = make_repeated_run(tmp_path / "twice", fast_rps=(20.0,))
    unsure = run_harness("compare", str(once), str(twice))
    assert unsure.returncode == 3, unsure.stdout + unsure.stderr
    assert "not enough data" in unsure.stdout
    wrong = run_harness("compare", str(a), str(tmp_path))
    assert wrong.returncode == 2 and "not a results folder" in wrong.stderr


def test_compare_shows_a_generator_bound_row_without_calling_it(tmp_path: Path) -> None:
    """The ceiling saturates locust: its p95 is the generator's latency, so a 3x rise is not
    the stack's regression (the fixture marks a stage whose id ends in 'bound' as saturated)."""
    a = make_repeated_run(tmp_path / "a", fast_rps=(40.0, 42.0))
    b = make_repeated_run(tmp_path / "b", fast_rps=(40.0, 42.0))
    write_stage(a, "s9-bound", 9, [10.0] * 1000, 0, 10.0, 1.0, 0, None, 1)
    write_stage(b, "s9-bound", 9, [30.0] * 500, 0, 10.0, 1.0, 0, None, 1)
    bound = {c.stage: c for c in compare_runs(a, b)}["s9-bound"]
    assert (bound.rps_ratio, bound.p95_ratio) == (pytest.approx(0.5), pytest.approx(3.0))
    assert bound.verdict == "generator-bound" and not bound.regressed
    shown = run_harness("compare", str(a), str(b))
    assert shown.returncode == 3, shown.stdout + shown.stderr  # two windows a side: nothing called
    assert "not called: s9-bound (the load generator was saturated" in " ".join(shown.stdout.split())


def test_compare_names_the_conditions_two_runs_differ_in(tmp_path: Path) -> None:
    a = make_repeated_run(tmp_path / "a", fast_rps=(40.0, 42.0))
    same = make_repeated_run(tmp_path / "same", fast_rps=(40.0, 41.0))
    assert condition_differences(a, same) == []
    other = make_repeated_run(tmp_path / "other", fast_rps=(40.0, 41.0))
    header = read_json(other / "run.json")
    header["load"]["warmup"] = 20
    header["budget"]["cpu_quota"] = 0.5
    header["machine"]["cpu_model"] = "another cpu"
    write_json(other / "run.json", header)
    assert condition_differences(a, other) == [
        "machine.cpu_model: test cpu vs another cpu", "budget.cpu_quota: None vs 0.5", "load.warmup: 1 vs 20"]
    shown = run_harness("compare", str(a), str(other))
    assert shown.returncode == 3, shown.stdout + shown.stderr
    assert ("measured under different conditions: machine.cpu_model: test cpu vs another cpu; "
            "budget.cpu_quota: None vs 0.5; load.warmup: 1 vs 20") in " ".join(shown.stdout.split())


def test_compare_names_a_host_that_ran_at_another_speed(tmp_path: Path) -> None:
    a = make_repeated_run(tmp_path / "a", fast_rps=(40.0, 42.0), host_speed=(7000.0, 7400.0))
    near = make_repeated_run(tmp_path / "near", fast_rps=(40.0, 42.0), host_speed=(7600.0, 7800.0))
    fast = make_repeated_run(tmp_path / "fast", fast_rps=(80.0, 84.0), host_speed=(13000.0, 14000.0))
    unwatched = make_repeated_run(tmp_path / "old", fast_rps=(40.0, 42.0))
    assert condition_differences(a, near) == []  # 7,200 vs 7,700: within 10 %
    assert condition_differences(a, fast) == ["host speed: 7,200 vs 13,500 units/s (B/A 1.88)"]
    assert condition_differences(unwatched, a) == ["host speed: not watched vs 7,200 units/s"]
    assert condition_differences(unwatched, unwatched) == []
