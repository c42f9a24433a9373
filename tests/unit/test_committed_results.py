"""Results are data, not a dump: what git carries under results/ is the runs the docs cite (every
one of them, and no other), their derived files (tables, run.json, stage and measurement records,
charts, reports) and at most 5 MB of them — never per-request samples, telemetry, probe traces,
logs or raw profiles. A kind of run the tests need and no doc cites is a fixture under
tests/fixtures/runs/."""

import re
import shutil
import subprocess
from fnmatch import fnmatch
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUDGET_BYTES = 5 * 1000 * 1000
FIXTURES = REPO / "tests" / "fixtures" / "runs"
RAW = ("samples*.csv", "telemetry.csv", "host_speed*.csv", "probe.csv", "wire.json", "*.log", "locust.json",
       "*.speedscope.json", "ready*")
RAW_FOLDERS = ("logs", "profile")
LINK = re.compile(r"(?<!\w)(?<!harness/)results/([A-Za-z0-9_.-]+)(/[A-Za-z0-9_./-]*)?")


def tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z", "results"], cwd=REPO, capture_output=True, check=True).stdout
    return [Path(p) for p in out.decode().split("\0") if p]


def is_raw(path: Path) -> bool:
    return any(fnmatch(path.name, pattern) for pattern in RAW) or any(part in RAW_FOLDERS for part in path.parts)


def test_no_raw_file_is_committed() -> None:
    raw = [p for p in tracked() if is_raw(p)]
    assert not raw, raw[:10]


def test_the_derived_results_fit_the_budget() -> None:
    size = sum((REPO / p).stat().st_size for p in tracked())
    assert size <= BUDGET_BYTES, f"{size / 1e6:.1f} MB of derived results"


def _cited() -> list[tuple[str, str, str]]:
    """(doc, run, path in the run) for every results/ link of the README and docs/."""
    cited = []
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for match in LINK.finditer(doc.read_text()):
            cited.append((doc.name, match.group(1), (match.group(2) or "/").strip("/")))
    return cited


def test_every_committed_run_is_cited() -> None:
    runs = {p.parts[1] for p in tracked() if len(p.parts) > 2}
    uncited = runs - {run for _, run, _ in _cited()}
    assert not uncited, f"committed and cited by no doc: {sorted(uncited)}"


def test_every_run_the_docs_cite_is_committed() -> None:
    files = {p.as_posix() for p in tracked()}
    runs = {p.parts[1] for p in tracked() if len(p.parts) > 2}
    cited = _cited()
    assert cited
    for doc, run, rest in cited:
        assert run in runs, f"{doc} cites results/{run}, which git does not carry"
        if rest and "." in rest.rsplit("/", 1)[-1]:
            assert f"results/{run}/{rest}" in files, f"{doc} cites results/{run}/{rest}, which git does not carry"


def runs_with(table: str) -> list[str]:
    """Every committed run (and fixture run) that holds `table` at its top."""
    committed = {p.parts[1] for p in tracked() if p.name == table and len(p.parts) == 3}
    fixtures = {f"fixture:{p.parent.name}" for p in FIXTURES.glob(f"*/{table}")}
    return sorted(committed | fixtures)


def copy_of(run: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(_folder(run), tmp_path / run.removeprefix("fixture:")))


def _folder(run: str) -> Path:
    return FIXTURES / run.removeprefix("fixture:") if run.startswith("fixture:") else REPO / "results" / run


def test_each_kind_of_run_is_kept() -> None:
    # the redraw tests below run once per kept run; without this, losing a kind would skip them
    for table in ("summary.csv", "capacity_steps.csv", "sweep.csv"):
        assert runs_with(table), f"no committed or fixture run holds {table}"


# drawn in full (charts, report.md, report.html): one run of each feature the charts meet — the
# headline (ceiling, same traffic, rungs beyond), a service's (a profile: its layers and flames),
# repeats (their spread); every other run's tables and report.md
DRAWN_IN_FULL = {"reference-ladder", "reference-service", "reference-repeat3-window90"}


# one test per run, so `make check`'s workers share them out
@pytest.mark.parametrize("run", runs_with("summary.csv"))
def test_every_committed_run_redraws_from_its_derived_files(run: str, tmp_path: Path) -> None:
    # `harness report RUN` on a clone: the tables were written by an older harness, the charts and
    # report by today's (a run without its raw samples is never re-analysed, only redrawn)
    from harness.runs.ladder import finish
    copy = copy_of(run, tmp_path)
    (copy / "report.md").unlink(missing_ok=True)
    finish(copy, charts=run in DRAWN_IN_FULL)
    if run in DRAWN_IN_FULL:
        assert (copy / "report.html").stat().st_size > 50_000 and (copy / "ladder.png").is_file()
    import pandas as pd
    summary = pd.read_csv(_folder(run) / "summary.csv")
    table = (copy / "report.md").read_text().split("## Summary")[1].split("\n## ")[0]
    # every stage of the committed summary is a row of the redrawn report's table: fails if the
    # redraw re-analysed (no samples: nothing) or dropped a row
    rows = [line.split("|")[1].strip() for line in table.splitlines()[3:] if line.startswith("| ")]
    assert rows == list(summary["stage"]), run


@pytest.mark.parametrize("run", runs_with("capacity_steps.csv"))
def test_every_committed_capacity_run_redraws_the_same_capacities(run: str, tmp_path: Path) -> None:
    # capacity.csv is derived from capacity_steps.csv and the run's target: drawn again from the
    # steps alone (no samples), each stage's capacity comes out as committed
    import pandas as pd

    from harness.runs.capacity import redraw
    copy = copy_of(run, tmp_path)
    (copy / "capacity.png").unlink()
    redrawn = redraw(copy)
    committed = pd.read_csv(_folder(run) / "capacity.csv")
    pd.testing.assert_frame_equal(pd.read_csv(copy / "capacity.csv"), committed)
    assert list(redrawn["stage"]) == list(committed["stage"]) and (copy / "capacity.png").stat().st_size > 6_000
    assert (copy / "report.md").read_text().count("\n| s") >= 2 * len(committed), run  # capacities, steps


@pytest.mark.parametrize("run", runs_with("sweep.csv"))
def test_every_committed_sweep_redraws_the_same_sweep(run: str, tmp_path: Path) -> None:
    # `harness plot SWEEP`: every rtt-*/ ladder from its derived tables, then sweep.csv from them
    from harness.runs.ladder import finish
    from harness.runs.rtt_sweep import finish_sweep
    copy = copy_of(run, tmp_path)
    (copy / "sweep.csv").unlink()
    for ladder in sorted(copy.glob("rtt-*")):  # each ladder's tables (their charts: the runs above)
        finish(ladder, charts=False)
    finish_sweep(copy)
    assert (copy / "sweep.csv").read_text() == (_folder(run) / "sweep.csv").read_text(), run
