"""A figure is added through its one definition (harness.reporting.figures) and lands in
measurements.csv, summary.csv and the report's summary table, combined over the repeats as it
says; the column lists themselves are derived from the definitions."""

from pathlib import Path

import pandas as pd
import pytest

from harness.reporting import figures
from harness.reporting.analysis import write_tables
from harness.reporting.report import write_report
from tests.results_fixture import make_repeated_run


def test_a_figure_added_in_one_place_is_in_every_table_and_the_report(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    slow = figures.Figure("slow_share", "share", "requests slower than 50 ms", "median", shown=("summary",),
                          measure=lambda m, samples: float((samples["response_time_ms"] > 50).mean()))
    monkeypatch.setattr(figures, "FIGURES", [*figures.FIGURES, slow])
    run = make_repeated_run(tmp_path / "run", fast_rps=(40.0, 44.0))
    write_tables(run)
    per = pd.read_csv(run / "measurements.csv")
    summary = pd.read_csv(run / "summary.csv").set_index("stage")
    assert "slow_share" in per.columns and len(per) == 4
    assert summary.loc["s0-slow", "slow_share"] == 1.0 and summary.loc["s1-fast", "slow_share"] == 0.0
    table = write_report(run).read_text().split("## Summary")[1].split("\n## ")[0]
    assert "slow_share" in table.splitlines()[2]  # the summary table's header row


def test_the_column_lists_are_the_definitions() -> None:
    names = [f.name for f in figures.FIGURES]
    assert len(names) == len(set(names))
    summary = figures.summary_columns()
    assert "rps_min" in summary and "rps_min" not in figures.measurement_columns()  # a spread: summary only
    assert "host_speed" in figures.measurement_columns() and "host_speed" not in summary  # per window only
    assert figures.shown_in("network")[0] == "stage" and "net_held" in figures.shown_in("network")
