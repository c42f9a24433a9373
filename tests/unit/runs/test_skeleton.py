"""The run skeleton every kind of run shares: what run.json says on each way out."""

import json
from pathlib import Path

import pytest

from harness.errors import RunInterrupted
from harness.runs.skeleton import recorded_run


def _record(run_dir: Path) -> dict[str, object]:
    return dict(json.loads((run_dir / "run.json").read_text()))


def test_a_run_that_ends_is_complete_and_finished(tmp_path: Path) -> None:
    drawn = []
    with recorded_run(tmp_path, {"kind": "test"}, where=lambda: "nowhere", finish=lambda: drawn.append(1)) as run:
        assert _record(tmp_path) == {"kind": "test"}  # written before the body runs
        run["measured"] = 3
    record = _record(tmp_path)
    assert record["status"] == "complete" and record["measured"] == 3 and record["finished_at"]
    assert drawn == [1]


def test_the_body_may_decide_its_status(tmp_path: Path) -> None:
    with recorded_run(tmp_path, {}, where=lambda: "") as run:
        run["status"] = "complete-with-failures"
    assert _record(tmp_path)["status"] == "complete-with-failures"


def test_a_stop_says_where_it_landed_and_still_draws(tmp_path: Path) -> None:
    drawn = []
    with pytest.raises(RunInterrupted) as stopped, \
            recorded_run(tmp_path, {}, where=lambda: "s3-pooled: measure", finish=lambda: drawn.append(1)):
        raise KeyboardInterrupt
    assert stopped.value.where == "s3-pooled: measure"
    record = _record(tmp_path)
    assert record["status"] == "interrupted" and record["interrupted_in"] == "s3-pooled: measure"
    assert drawn == [1]


def test_a_crash_is_recorded_as_crashed_and_keeps_its_traceback(tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError), recorded_run(tmp_path, {}, where=lambda: ""):
        _ = 1 / 0
    assert _record(tmp_path)["status"] == "crashed"


def test_a_stop_inside_a_nested_run_is_passed_on_as_it_was(tmp_path: Path) -> None:
    inner = RunInterrupted(tmp_path / "rtt-1", "s2-async: warm-up")
    with pytest.raises(RunInterrupted) as stopped, recorded_run(tmp_path, {}, where=lambda: "the ladder at 1 ms"):
        raise inner
    assert stopped.value is inner
    assert _record(tmp_path)["status"] == "interrupted"
