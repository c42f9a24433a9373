"""`harness rtt-sweep`: the ladder at several RTTs between the tiers, and when each fix pays.

results/<sweep>/
  run.json            kind "rtt-sweep", the RTTs, the load and budget every ladder ran under
  rtt-<ms>/           one complete ladder run per RTT (its own run.json, tables, charts, report)
  sweep.csv, steps.csv, sweep.png, sweep.md   its tables, chart and report (results/sweep_report.py)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import OptionError
from harness.network.emulator import NetworkPlan
from harness.reporting.sweep_report import draw_sweep, step_table, sweep_table, write_sweep_report
from harness.run_folder import new_run_dir, run_header, write_json
from harness.runs.ladder import Progress, RunPlan, run_all
from harness.runs.skeleton import recorded_run
from harness.settings import HarnessSettings


def parse_rtts(spec: str) -> list[float]:
    try:
        rtts = sorted({float(part) for part in spec.split(",") if part.strip()})
    except ValueError:
        raise OptionError(f"{{0}} must be milliseconds separated by commas, got {spec!r}", "rtts") from None
    if not rtts:
        raise OptionError("{0} needs at least one RTT", "rtts")
    for rtt in rtts:
        NetworkPlan(rtt)  # validates the range
    return rtts


def rtt_folder(rtt_ms: float) -> str:
    return f"rtt-{rtt_ms:g}"


def run_sweep(plan: RunPlan, rtts: list[float], settings: HarnessSettings,
              progress_for: Callable[[float], Progress], say: Callable[[str], None] = lambda _: None) -> Path:
    """The same ladder (stages, load, budget, backend) once per RTT, each into rtt-<ms>/."""
    sweep_dir = new_run_dir(settings.results_dir)
    record: dict[str, Any] = {**run_header("rtt-sweep", plan.backend.name, plan.budget.as_record()),
                              "rtts_ms": rtts, "load": plan.shape.as_record(),
                              "stages": [s.id for s in plan.stages], "runs": {}}
    done: list[float] = []
    with recorded_run(sweep_dir, record, where=lambda: f"the ladder at {done[-1]:g} ms" if done else "set-up",
                      finish=lambda: finish_sweep(sweep_dir)):
        for rtt in rtts:
            done.append(rtt)
            say(f"ladder at {rtt:g} ms RTT" if rtt else "ladder on loopback (0 ms)")
            run_dir = sweep_dir / rtt_folder(rtt)
            run_dir.mkdir()
            record["runs"][f"{rtt:g}"] = run_dir.name
            write_json(sweep_dir / "run.json", record)
            run_all(replace(plan, network=NetworkPlan(rtt), ceiling=False), settings, progress_for(rtt), run_dir)
    return sweep_dir


def finish_sweep(sweep_dir: Path) -> pd.DataFrame:
    """sweep.csv, steps.csv, the chart and the report from the ladders' own tables."""
    table = sweep_table(sweep_dir)
    steps = step_table(table)
    table.to_csv(sweep_dir / "sweep.csv", index=False, float_format="%.4g")
    steps.to_csv(sweep_dir / "steps.csv", index=False, float_format="%.4g")
    draw_sweep(sweep_dir, table, steps)
    write_sweep_report(sweep_dir, table, steps)
    return table
