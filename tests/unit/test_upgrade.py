"""Every committed run reads as today's through the one upgrade path (harness.upgrade), whatever
schema it was written in: its run.json, every stage's record and measurement, its summary."""

import json
from pathlib import Path

import pytest

from harness import upgrade
from harness.kinds import Kind
from harness.reporting.analysis import read_summary
from harness.reporting.figures import summary_columns
from harness.run_folder import load_run

REPO = Path(__file__).resolve().parents[2]
RUNS = sorted(p.parent for p in (REPO / "results").glob("*/run.json"))


def test_there_are_committed_runs_of_both_schemas() -> None:
    versions = {json.loads((run / "run.json").read_text()).get("schema_version", 1) for run in RUNS}
    assert versions == {1, upgrade.SCHEMA_VERSION}, versions  # the upgrade step is exercised, not only today's


@pytest.mark.parametrize("run", RUNS, ids=[r.name for r in RUNS])
def test_a_committed_run_reads_as_todays(run: Path) -> None:
    record = load_run(run)
    assert record["schema_version"] == upgrade.SCHEMA_VERSION
    assert record["kind"] in ("ladder", "service", "capacity", "rtt-sweep") and "rtt_ms" in record["network"]
    for stage in (run / "stages").glob("*/stage.json"):
        meta = upgrade.stage_record(json.loads(stage.read_text()))
        assert Kind(meta["kind"])  # every measurement says what kind it is
        measurement = stage.parent / "measurement.json"
        if measurement.is_file():
            m = upgrade.measurement_record(json.loads(measurement.read_text()))
            assert {"host_speed", "writes", "waiting", "db_cpu_seconds", "database_restarts"} <= set(m)
    if (run / "summary.csv").is_file():
        summary = read_summary(run)
        assert set(summary_columns()) <= set(summary.columns)
        assert summary["kind"].map(Kind).notna().all()
