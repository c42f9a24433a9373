"""End to end: a quick run-all of the whole ladder on the local backend."""

import json
from pathlib import Path

import pandas as pd
import psutil
from selenium import webdriver

from harness.manifests.manifest import discover
from tests.conftest import run_harness
from tests.integration.test_html_report import check_page

SECRET = "e2e-token-secret-0123456789abcdef"


def _ladder_processes() -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "uvicorn" in cmd and "services" in cmd or "ladder-pg-" in cmd or "locustfile.py" in cmd \
                or "harness.measure.host_speed" in cmd:
            found.append(proc)
    return found


def test_quick_run_all_measures_every_stage(results_dir: Path, browser: webdriver.Chrome) -> None:
    # the idle check before each window is asserted in the repeats test below; 10 users: s0's and
    # s1's sign-in and windows take half as long, and every mechanism below still shows
    done = run_harness("run-all", "--backend", "local", "--quick", "--users", "10", "--idle-timeout", "0",
                       env={"LADDER_RESULTS_DIR": str(results_dir), "LADDER_TOKEN_SECRET": SECRET}, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = list(results_dir.iterdir())
    summary = pd.read_csv(run / "summary.csv")
    ladder = [s.id for s in discover()]  # as the manifests say, the last stage's ceiling after it
    assert list(summary["stage"]) == [*ladder, f"{ladder[-1]}.ceiling"]
    assert (summary["status"] == "ok").all()
    assert (summary["failures"] == 0).all()
    # each measurement's figures were recorded as its window ended, and the run's tables agree with
    # them: throughput is the window's requests over its length (fails on a window cut twice, or
    # differently), and every request is in the endpoint table (fails when rows are lost or counted
    # in the wrong stage)
    for stage, row in summary.set_index("stage").iterrows():
        figures = json.loads((run / "stages" / str(stage) / "figures.json").read_text())
        window = json.loads((run / "stages" / str(stage) / "measurement.json").read_text())["window_seconds"]
        assert figures["requests"] == row["requests"] > 0 and abs(figures["rps"] * window - row["requests"]) < 1, stage
        assert abs(row["rps"] / figures["rps"] - 1) < 1e-3, stage  # the summary's 4 significant digits
    per_endpoint = pd.read_csv(run / "endpoints.csv").groupby("stage")["requests"].sum()
    assert per_endpoint.reindex(summary["stage"]).tolist() == summary["requests"].tolist()
    for name in ("ladder.png", "latency.png", "mechanisms.png", "report.md"):
        assert (run / name).stat().st_size > 0, name
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "complete"
    assert meta["budget"]["server_cpus"] and meta["budget"]["load_cpus"]
    assert meta["git"]["commit"]
    assert "token_secret" not in (run / "run.json").read_text()
    # mechanisms measured under load, not only in verify
    by_stage = summary.set_index("stage")
    # static JSON on the same stack and budget is the ceiling the ladder climbs towards
    assert by_stage.loc[f"{ladder[-1]}.ceiling", "rps"] > by_stage.loc[ladder[-1], "rps"]
    assert "**Ceiling**" in (run / "report.md").read_text()
    assert by_stage.loc["s0-baseline", "hops_per_req"] >= 4
    assert by_stage.loc["s3-pooled", "db_sessions_per_req"] < 0.2
    assert by_stage.loc["s4-queries", "statements_per_req"] < by_stage.loc["s3-pooled", "statements_per_req"]
    assert by_stage.loc["s6-one-deployable", "hops_per_req"] == 0 < by_stage.loc["s5-optimized", "hops_per_req"]
    stages = discover()
    assert list(summary["part"]) == [s.part for s in stages] + [stages[-1].part]  # the ceiling's too
    assert meta["interpreter"]["libpython"] in ("static", "shared") and meta["interpreter"]["version"]
    assert "### Beyond the case study" in (run / "report.md").read_text()
    assert not _ladder_processes(), "the run left processes behind"
    # its page, in a real browser: offline, every chart drawn (tests/integration/test_html_report.py)
    assert check_page(browser, run, flames=False)["bytes"] < 2_000_000
    for path in run.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"the token secret leaked into {path}"


def test_repeats_interleave_the_stages(results_dir: Path) -> None:
    done = run_harness("run-all", "--backend", "local", "--no-same-traffic", "--users", "20", "--warmup", "1",
                       "--duration", "4", "--repeat", "2", "--stages", "s4-queries", "--stages", "s8-one-round-trip",
                       "--no-ceiling",
                       env={"LADDER_RESULTS_DIR": str(results_dir)}, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = list(results_dir.iterdir())
    finished = {d.name: json.loads((d / "stage.json").read_text())["finished_at"] for d in (run / "stages").iterdir()}
    # blocks in a balanced order: the plan's first, then reversed, as run.json records (harness.runs.order)
    assert sorted(finished, key=finished.__getitem__) == ["s4-queries", "s8-one-round-trip",
                                                          "s8-one-round-trip.r2", "s4-queries.r2"]
    order = json.loads((run / "run.json").read_text())["order"]
    assert order["blocks"] == [["s4-queries", "s8-one-round-trip"], ["s8-one-round-trip", "s4-queries"]]
    assert isinstance(order["seed"], int)
    summary = pd.read_csv(run / "summary.csv").set_index("stage")
    assert list(summary["repeats"]) == [2, 2]
    assert (summary["rps_min"] <= summary["rps"]).all() and (summary["rps"] <= summary["rps_max"]).all()
    assert len(pd.read_csv(run / "measurements.csv")) == 4
    for d in (run / "stages").iterdir():
        assert "idle" in json.loads((d / "stage.json").read_text())
        # the host's speed was watched on the budget CPU through the whole window, ~5 bursts a second
        speed = json.loads((d / "measurement.json").read_text())["host_speed"]
        assert speed["samples"] >= 3 * 4 and 0 < speed["min"] <= speed["mean"] <= speed["max"], speed
        assert 0 < speed["budget_share_pct"] < 5, speed
    assert (summary["speed_min"] <= 1).all() and (summary["speed_max"] >= 1).all()
    assert summary["rps_at_speed"].notna().all()
    report = (run / "report.md").read_text()
    assert "## Spread over repeats" in report and "## Host speed" in report
    # without a quota (tests/integration/test_budget.py has one) the server side may use its whole
    # CPU: saturated, pinned to one CPU, close to one CPU's worth, never more; PostgreSQL's part
    # counted on its own, a real part (s4 still queries every request) but not most of it
    assert json.loads((run / "run.json").read_text())["budget"]["enforced"] == "affinity"
    measured = json.loads((run / "stages/s4-queries/measurement.json").read_text())
    assert 0.6 <= measured["server_cpu_seconds"] / measured["window_seconds"] <= 1.05
    assert 0.02 <= measured["db_cpu_seconds"] / measured["server_cpu_seconds"] <= 0.5
    assert not _ladder_processes(), "the run left processes behind"


def test_the_same_traffic_pass_offers_every_stage_one_rate(results_dir: Path, browser: webdriver.Chrome) -> None:
    done = run_harness("run-all", "--backend", "local", "--quick", "--same-traffic", "--no-ceiling",
                       "--idle-timeout", "0", "--stages", "s5-optimized,s6-one-deployable",
                       env={"LADDER_RESULTS_DIR": str(results_dir)}, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = list(results_dir.iterdir())
    meta = json.loads((run / "run.json").read_text())
    summary = pd.read_csv(run / "summary.csv").set_index("stage")
    closed = summary.loc["s5-optimized", "rps"]
    # the rule: 70 % of the closed-loop throughput of the case study's last stage in the run (s5, not
    # the rung beyond it, which would offer the case study's stages several times their capacity),
    # the same for every stage
    assert summary.loc["s6-one-deployable", "rps"] > 1.5 * closed
    assert abs(meta["same_traffic"]["rate"] - round(0.7 * closed)) <= 1, (meta["same_traffic"], closed)
    assert "s5-optimized's closed-loop throughput (where the case study ends)" in meta["same_traffic"]["rule"]
    opened = summary.loc[["s5-optimized.open", "s6-one-deployable.open"]]
    assert (opened["offered_rps"] == meta["same_traffic"]["rate"]).all()
    assert (opened["sent_rps"] > 0).all() and opened["late_starts"].notna().all()
    for stage in ("s5-optimized.open", "s6-one-deployable.open"):
        m = json.loads((run / "stages" / stage / "measurement.json").read_text())
        assert m["rate"] == meta["same_traffic"]["rate"] and m["drain_seconds"] > 0
    assert "## Same traffic" in (run / "report.md").read_text()
    assert (run / "same_traffic.png").stat().st_size > 0
    # the pass is not a step of the ladder: its rows stay out of the ladder's ratios
    steps = (run / "report.md").read_text().split("## Step by step")[1].split("\n## ")[0]
    assert "s5-optimized.open" not in steps
    assert not _ladder_processes(), "the run left processes behind"
    # its page, in a real browser: offline, every chart drawn (tests/integration/test_html_report.py)
    assert check_page(browser, run, flames=False)["bytes"] < 2_000_000
