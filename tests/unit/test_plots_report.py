from pathlib import Path

import pytest
from matplotlib.figure import Figure

from harness.reporting import plots, report
from harness.reporting.analysis import read_summary, write_tables
from tests.conftest import run_harness
from tests.results_fixture import make_header, make_run, write_stage

PNG = b"\x89PNG\r\n\x1a\n"


def test_charts_and_report_from_a_stored_results_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = make_run(tmp_path / "run")
    write_tables(run)
    figures: dict[str, Figure] = {}
    save = plots.save_chart

    def kept(fig: Figure, path: Path) -> None:
        figures[path.name] = fig
        save(fig, path)
    monkeypatch.setattr(plots, "save_chart", kept)
    drawn = plots.draw_all(run)
    assert [p.name for p in drawn] == ["ladder.png", "latency.png", "mechanisms.png"]
    assert all(path.read_bytes().startswith(PNG) for path in drawn)
    # the headline shows each measured stage's throughput as a bar, under its name, and its p95
    summary = read_summary(run)
    measured = summary[summary["status"] == "ok"]
    throughput, ratio = figures["ladder.png"].axes[:2]
    assert [bar.get_height() for bar in throughput.patches] == list(measured["rps"])
    assert [t.get_text().replace("\n", "-") for t in throughput.get_xticklabels()] == list(measured["stage"])
    p95 = figures["ladder.png"].axes[2].lines[0]
    assert list(p95.get_ydata()) == list(measured["p95_ms"])
    assert list(ratio.lines[0].get_ydata()) == [1.0, 4.0]  # throughput × the baseline's
    text = report.write_report(run).read_text()
    assert "![ladder](ladder.png)" in text
    assert "s1-fast" in text and "×4.00" in text
    assert "## Failed stages" in text and "s2-broken" in text


def test_plot_command_redraws_without_rerunning(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    done = run_harness("plot", str(run))
    assert done.returncode == 0, done.stderr
    # the tables come from the folder's samples and the chart is drawn: fails if plot skipped the
    # analysis (no summary), wrote someone else's figures, or left the chart unwritten
    summary = read_summary(run).set_index("stage")
    assert summary.loc["s1-fast", "rps"] == 40.0 and summary.loc["s0-slow", "requests"] == 100
    assert (run / "ladder.png").read_bytes().startswith(PNG) and "ladder.png" in done.stdout


def test_plot_of_a_folder_that_is_not_a_run_fails_in_one_line(tmp_path: Path) -> None:
    done = run_harness("plot", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "not a results folder" in done.stderr


def test_plot_of_a_capacity_run_draws_its_capacity_not_a_ladder(tmp_path: Path) -> None:
    import shutil
    run = tmp_path / "capacity"
    shutil.copytree(Path(__file__).resolve().parents[2] / "results" / "reference-capacity", run)
    (run / "capacity.png").unlink()
    done = run_harness("plot", str(run))
    assert done.returncode == 0, done.stderr
    assert (run / "capacity.png").read_bytes().startswith(PNG)
    # a capacity run's steps are not a ladder's stages: no ladder tables or charts beside it
    assert not (run / "summary.csv").exists() and not (run / "ladder.png").exists()


def test_plot_of_a_harness_up_session_says_there_is_nothing_to_draw(tmp_path: Path) -> None:
    make_header(tmp_path / "up", kind="up")
    done = run_harness("plot", str(tmp_path / "up"))
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "nothing to draw" in done.stderr


def test_a_p95_at_locusts_timeout_is_called_a_floor(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    write_tables(run)
    assert "Timeout-bound" not in report.render(run)  # 100 ms at most: no stage is near 60 s
    timed_out = tmp_path / "timed-out"
    make_header(timed_out)
    # 10 of 100 requests waited locust's full 60 s: the p95 reads the timeout
    write_stage(timed_out, "s0-slow", 0, [100.0] * 90 + [60_010.0] * 10, 10, 10.0, 2.0, 300, 1100, 16)
    write_stage(timed_out, "s1-fast", 1, [10.0] * 400, 0, 10.0, 1.0, 0, None, 1)
    write_tables(timed_out)
    text = report.render(timed_out)
    assert "**Timeout-bound p95**: s0-slow —" in text and "s1-fast —" not in text


def test_the_report_and_chart_mark_where_the_case_study_ends(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    write_stage(run, "s3-beyond", 3, [2.0] * 1200, 0, 10.0, 1.2, 0, None, 0, part="beyond")
    write_tables(run)
    summary = read_summary(run)
    assert list(summary.set_index("stage")["part"]) == ["case-study", "case-study", "case-study", "beyond"]
    data = summary[summary["status"] == "ok"].reset_index(drop=True)
    # the divider sits between s1-fast (the case study's last measured) and s3-beyond
    assert plots.case_study_end(data) == 2
    text = report.write_report(run).read_text()
    steps = text.split("## Step by step")[1]
    # fails if the heading went before the wrong step (or not at all)
    assert steps.index("**s1-fast**") < steps.index("### Beyond the case study") < steps.index("**s3-beyond**")
    assert "The case study ends at **s1-fast**" in text and "×3.0 s1-fast" in text


def test_a_run_without_rungs_beyond_has_no_divider(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    write_tables(run)
    assert plots.case_study_end(read_summary(run)) is None
    assert "Beyond the case study" not in report.write_report(run).read_text()
