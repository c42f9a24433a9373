"""`harness gate` as docs/ci.md's workflow runs it, on the test service (tests/service_fixture.py) in
a git repository of its own: real PostgreSQL, real locust, real git, the installed command.

The gate's figures (false alarms, detection, wall time) are its calibration's
(scripts/calibrate_gate.py, results/reference-gate/), not a test's: here windows are short and the
pair is the N+1 against its fix, a change far beyond any noise, so the test checks the mechanism."""

import json
import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import HARNESS, REPO, leftover_processes, run_harness
from tests.service_fixture import make_repository

SHORT = ("--duration", "4", "--warmup", "1", "--users", "10", "--idle-timeout", "0")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repository(tmp_path_factory.mktemp("user") / "notes")


def _nothing_left() -> None:
    assert leftover_processes() == []
    assert not list(Path(tempfile.gettempdir()).glob("ladder-variants-*"))
    assert not list(Path(tempfile.gettempdir()).glob("ladder-pg-*"))


def _workflow_gate_step() -> str:
    """The `gate` step's command in docs/ci.md's workflow, as the runner would run it."""
    text = (REPO / "docs" / "ci.md").read_text()
    workflow = yaml.safe_load(text.split("```yaml\n", 1)[1].split("```", 1)[0])
    (step,) = [s for s in workflow["jobs"]["gate"]["steps"] if s.get("name") == "gate"]
    return str(step["run"])


def test_the_workflow_s_gate_fails_a_slower_candidate_with_its_verdict_as_the_job_summary(
        repo: Path, tmp_path: Path) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("# earlier steps\n")
    results = tmp_path / "results"
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    # the workflow's own line, in the service's folder, BASE and HEAD the pull request's refs
    command = f"{_workflow_gate_step()} {' '.join(SHORT)}"
    done = subprocess.run(["bash", "-c", command], cwd=repo, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PATH": f"{Path(HARNESS[0]).parent}:{os.environ['PATH']}",
                               "BASE": "after", "HEAD": "before", "GITHUB_STEP_SUMMARY": str(summary),
                               "LADDER_RESULTS_DIR": str(results), "COLUMNS": "200"})
    assert done.returncode == 1, done.stdout + done.stderr  # 1: slower
    verdict = [line for line in done.stdout.splitlines() if line.startswith("before against after:")]
    assert verdict and "before against after: SLOWER" in verdict[0] and "CPU per request +" in verdict[0], done.stdout
    assert "throughput -" in done.stdout  # the N+1 serves fewer requests: said as a fall
    written = summary.read_text()
    assert written.startswith("# earlier steps\n**before against after: SLOWER**")  # appended, not replaced
    # why, first: the statement the candidate runs once per listed note, counted exactly, and the
    # line of the service's code that issues it (a code span: its <locals> stays text on a page)
    added = re.search(r"GET /notes: `SELECT tags\.id, tags\.name FROM tags, note_tags [^`]*` added, (\d+) per request, "
                      r"from `notes/main\.py:\d+ notes\.<locals>\.<listcomp>`", written)
    assert added and int(added.group(1)) >= 10, written
    (run,) = [p for p in results.iterdir() if (p / "run.json").is_file()]
    assert (run / "compare.md").read_text() == written.removeprefix("# earlier steps\n")
    record = json.loads((run / "run.json").read_text())
    gate = record["gate"]
    # decided at its first look (three pairs: the N+1 costs several times the fix), within the budget
    assert gate["call"] == "slower" and gate["decided_at"] == 3 and gate["looks"][-1]["low_pct"] > 3
    assert record["order"]["blocks"][:2] == [["after", "before"], ["before", "after"]]
    # each window measured both variants at once on the budget, each on its own database and port
    stages = {p.name: json.loads((p / "stage.json").read_text()) for p in (run / "stages").iterdir()}
    assert sorted(stages) == ["after", "after.r2", "after.r3", "before", "before.r2", "before.r3"]
    assert stages["before.r2"]["side_by_side"] == ["after"] and stages["after"]["url"] != stages["before"]["url"]
    window = json.loads((run / "stages" / "before.r2" / "measurement.json").read_text())
    assert window["side_by_side"]["budget_busy_seconds"] > window["server_cpu_seconds"] > 0
    assert subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout == head
    _nothing_left()
    # compare reads the same run window by window (paired), and exits as the gate did
    again = run_harness("compare", f"{run}:after", f"{run}:before")
    assert again.returncode == 1 and "pairs of windows" in again.stdout.splitlines()[0], again.stdout


def _gate(repo: Path, results: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*HARNESS, "gate", "after", "before", "--service", str(repo), *SHORT], cwd=REPO,
                            env={**os.environ, "LADDER_RESULTS_DIR": str(results)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _first_window_measured(results: Path, proc: subprocess.Popen[str], timeout: float = 180) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        found = list(results.glob("*/stages/after/measurement.json"))
        if found:
            return found[0].parents[2]
        time.sleep(0.5)
    proc.kill()
    raise AssertionError(f"no window measured: {proc.communicate()}")


def test_a_gate_stopped_by_the_runner_keeps_its_windows_and_leaves_nothing(repo: Path, tmp_path: Path) -> None:
    # a CI runner's time limit: SIGTERM in the second block
    results = tmp_path / "term"
    proc = _gate(repo, results)
    run = _first_window_measured(results, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "interrupted" and (run / "summary.csv").is_file()
    assert json.loads((run / "stages" / "after" / "stage.json").read_text())["status"] == "ok"  # kept
    _nothing_left()
    # kill -9: nothing is stopped by the gate itself; `harness cleanup` does it, and marks the run
    results = tmp_path / "killed"
    proc = _gate(repo, results)
    run = _first_window_measured(results, proc)
    proc.kill()
    proc.wait(timeout=30)
    cleaned = run_harness("cleanup", "--no-docker", env={"LADDER_RESULTS_DIR": str(results)})
    assert cleaned.returncode == 0 and f"runs marked killed: 1 {run}" in " ".join(cleaned.stdout.split()), \
        cleaned.stdout + cleaned.stderr
    _nothing_left()
