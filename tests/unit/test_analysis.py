import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.reporting.analysis import bound_by, ratios, stage_dirs, summarise, write_tables
from harness.reporting.figures import summary_columns
from tests.results_fixture import make_run


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path / "run")


def test_summary_maths(run: Path) -> None:
    s = summarise(run).set_index("stage")
    slow = s.loc["s0-slow"]
    assert slow["rps"] == pytest.approx(10.0)
    assert slow["p50_ms"] == pytest.approx(np.percentile(range(1, 101), 50))
    assert slow["p95_ms"] == pytest.approx(95.05)
    assert slow["p99_ms"] == pytest.approx(99.01)
    assert (slow["requests"], slow["failures"]) == (100, 5)
    assert slow["fail_rate"] == pytest.approx(0.05)
    assert slow["cpu_s_per_1k"] == pytest.approx(20.0)
    assert slow["db_cpu_share"] == pytest.approx(0.25)
    assert slow["db_sessions_per_req"] == pytest.approx(3.0)
    assert slow["statements_per_req"] == pytest.approx(11.0)
    assert slow["hops_per_req"] == pytest.approx(16.0)
    fast = s.loc["s1-fast"]
    assert fast["rps"] == pytest.approx(40.0)
    assert math.isnan(fast["statements_per_req"])
    assert math.isnan(fast["db_cpu_share"])  # measured before the database's CPU was split out
    assert s.loc["s2-broken", "status"] == "failed"
    assert math.isnan(s.loc["s2-broken", "rps"])


def test_summary_schema_is_stable(run: Path) -> None:
    summary = write_tables(run)
    assert list(summary.columns) == summary_columns()
    header = (run / "summary.csv").read_text().splitlines()[0]
    assert header.split(",") == summary_columns()
    # per endpoint: the fixture alternates /api/me and /api/dashboard, its first 5 requests failing
    # (3 of them /api/me); fails if requests or failures land on the wrong endpoint or stage
    import pandas as pd
    endpoints = pd.read_csv(run / "endpoints.csv").set_index(["stage", "endpoint"])
    assert endpoints.loc[("s0-slow", "/api/me"), ["requests", "failures"]].tolist() == [50, 3]
    assert endpoints.loc[("s0-slow", "/api/dashboard"), ["requests", "failures"]].tolist() == [50, 2]
    assert endpoints.loc[("s1-fast", "/api/me"), ["requests", "failures"]].tolist() == [200, 0]
    assert "s2-broken" not in endpoints.index.get_level_values("stage")


def test_requests_locust_counted_but_no_samples_file_holds_are_samples_lost(run: Path) -> None:
    # fails if the count compares with the window's requests only (100 of s0's 100 are in it, but a
    # measurement's samples run from launch), or if a stage's loss leaks into another's
    from harness.reporting.report import render
    s = summarise(run).set_index("stage")
    assert s.loc["s0-slow", ["samples_sent", "samples_lost"]].tolist() == [103, 3]
    assert s.loc["s1-fast", ["samples_sent", "samples_lost"]].tolist() == [400, 0]
    assert "**Samples lost**: s0-slow 3 of 103" in render(run)


def test_locusts_own_count_is_the_masters_aggregate(tmp_path: Path) -> None:
    from harness.load.shape import requests_sent
    stats = tmp_path / "locust.json"
    # forked workers print an empty list each, the master the aggregate: fails if the lists are not all read
    stats.write_text('[]\n[{"name": "/api/me", "num_requests": 7}, {"name": "/api/login", "num_requests": 3}]\n[]\n')
    assert requests_sent(stats) == 10
    stats.write_text('[{"name": "/api/me", "num_requ')  # cut short: no count rather than a wrong one
    assert requests_sent(stats) is None
    assert requests_sent(tmp_path / "missing.json") is None


def test_ratios_against_baseline(run: Path) -> None:
    r = ratios(summarise(run)).set_index("stage")
    assert r.loc["s1-fast", "speedup_vs_baseline"] == pytest.approx(4.0)
    assert r.loc["s1-fast", "p95_reduction_vs_baseline"] == pytest.approx(9.505)
    assert "s2-broken" not in r.index


@pytest.mark.parametrize("row, verdict", [
    ({"generator_bound": True, "net_held": True, "server_busy_pct": 99.0}, "generator"),
    ({"generator_bound": False, "net_held": False, "server_busy_pct": 99.0}, "network"),
    ({"generator_bound": False, "net_held": True, "server_busy_pct": 93.0}, "budget"),
    ({"generator_bound": False, "net_held": True, "server_busy_pct": 44.0}, "waiting"),
])
def test_bound_by_names_what_set_the_numbers(row: dict, verdict: str) -> None:
    assert bound_by(row) == verdict


def test_each_samples_file_is_parsed_once_in_a_run(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the run's own sequence: each measurement's end (figures recorded, the run's tables rewritten
    # from all of them), then finish (tables, charts, report). Fails when a table, a chart or the
    # report goes back to the samples: every table re-derived every earlier measurement from them
    # after each stage (a default run of 13 measurements parsed its sample files ~220 times)
    import pandas as pd

    from harness.runs import ladder
    parsed: Counter[str] = Counter()
    read_csv = pd.read_csv

    def counting(path: Any, *args: Any, **kwargs: Any) -> pd.DataFrame:
        if Path(path).name.startswith("samples"):
            parsed[str(Path(path).relative_to(run))] += 1
        return read_csv(path, *args, **kwargs)

    monkeypatch.setattr(pd, "read_csv", counting)
    for measurement in stage_dirs(run):
        ladder.measurement_ended(run, measurement)
    ladder.finish(run)
    ladder.finish(run)  # a redraw (harness report RUN) reads the figures too
    assert parsed == {"stages/s0-slow/samples.csv": 1, "stages/s1-fast/samples.csv": 1}
    assert (run / "report.md").is_file() and summarise(run).set_index("stage").loc["s1-fast", "rps"] == 40.0


def test_with_tiers_on_several_nodes_the_busiest_node_sets_the_budgets_share(tmp_path: Path) -> None:
    # each node carrying a tier has the budget's CPU: 9.7 s of 10 on app-1 is budget-bound though the
    # db's 3.3 s here leave this host idle; fails if the nodes' seconds are summed (130 %) or averaged (65 %)
    import json

    from harness.measure.window import remote_server_cpu
    from tests.results_fixture import make_header, write_stage
    run_dir = tmp_path / "run"
    make_header(run_dir)
    write_stage(run_dir, "s4-queries", 4, [10.0] * 100, 0, 10.0, 13.0, 10, 20, 2)
    path = run_dir / "stages" / "s4-queries" / "measurement.json"
    m = json.loads(path.read_text())
    split = remote_server_cpu({"core-api": 9.0, "edge": 0.7, "postgres": 3.3}, {"core-api": "app-1", "edge": "app-1"})
    assert split["node_busy_seconds"] == pytest.approx({"app-1": 9.7, "this host": 3.3})
    assert (split["server_cpu_seconds"], split["db_cpu_seconds"]) == pytest.approx((13.0, 3.3))
    path.write_text(json.dumps({**m, **split}))
    row = summarise(run_dir).set_index("stage").loc["s4-queries"]
    assert row["server_busy_pct"] == pytest.approx(97.0) and row["bound_by"] == "budget"
    assert row["cpu_s_per_1k"] == pytest.approx(130.0)
