"""A capacity run's steps read: which step counts toward a stage's capacity, the best one, and
report.md (what was asked, the chart, each stage's capacity with what bound it, and every step)
— from the steps' table (capacity_steps.csv) and run.json alone."""

from pathlib import Path
from typing import Any

import pandas as pd

from harness.run_folder import read_json

STEP_COLUMNS = {"stage": "stage", "load": "load", "rps": "req/s", "p50_ms": "p50 ms", "p95_ms": "p95 ms",
                "fail_rate": "failed", "bound_by": "bound by", "server_busy_pct": "budget busy %",
                "cpu_s_per_1k": "CPU-s/1k req", "host_speed": "host speed", "within": "within target"}
FORMATS = {"rps": "{:,.1f}", "p50_ms": "{:,.0f}", "p95_ms": "{:,.0f}", "fail_rate": "{:.1%}",
           "server_busy_pct": "{:.0f}", "cpu_s_per_1k": "{:.2f}", "host_speed": "{:,.0f}"}
READING = [
    "How to read it: a step **bound by budget** used ≥ 90 % of the server CPU, so its throughput is "
    "what the code costs on this budget and more users only queue; **waiting** left CPU to spare (a "
    "lock, a pool, the network, too few users to fill it: the step's line in the run's output names the "
    "evidence); **generator** means locust ran out of CPU (the number is locust's); **network** means "
    "the emulated wire did not hold its RTT (not comparable). A capacity is only as good as its step's "
    "verdict: one bound by waiting at the largest step may be higher with more load (users or rate)."
]


def _load(row: pd.Series) -> str:
    offered = row.get("offered_rps")
    if offered == offered and offered:
        return f"{offered:g} req/s offered"
    users = int(row["users"])
    return f"{users} user" + ("" if users == 1 else "s")


def within_target(steps: pd.DataFrame, target_p95_ms: float) -> "pd.Series[bool]":
    """The steps that count toward a capacity: p95 within the target and, in the open model, the
    generator held its rate (the stage was offered it)."""
    within = steps["p95_ms"] <= target_p95_ms
    if "rate_held" in steps:
        within &= steps["rate_held"].fillna(True).astype(bool)
    return within


def best_step(stage_steps: pd.DataFrame, target_p95_ms: float) -> pd.Series | None:
    """One stage's highest-throughput step within the target; None when no step met it."""
    within = stage_steps[within_target(stage_steps, target_p95_ms)]
    return None if within.empty else within.sort_values("rps").iloc[-1]


def _at(stage_steps: pd.DataFrame, target_p95_ms: float) -> str:
    best = best_step(stage_steps, target_p95_ms)
    return "no step within the target" if best is None else _load(best)


def _header(run: dict[str, Any], target_p95_ms: float) -> list[str]:
    budget, load = run.get("budget", {}), run.get("load", {})
    network = run.get("network") or {}
    rtt = network.get("rtt_ms") or 0
    steps = (", ".join(f"{r:g}" for r in run["rates"]) + " req/s offered" if run.get("rates")
             else ", ".join(str(u) for u in run.get("steps", [])) + " concurrent users")
    return [
        f"The highest throughput each stage sustains with p95 ≤ **{target_p95_ms:g} ms**, stepping the load "
        f"up ({steps}; each step {load.get('warmup', '?')} s warm-up, {load.get('duration', '?')} s measured). "
        f"Backend {run.get('backend', '?')}; server CPUs {budget.get('server_cpus', '?')}"
        + (f" (quota {budget['cpu_quota']:g})" if budget.get("cpu_quota") else "")
        + f", load CPUs {budget.get('load_cpus', '?')}; "
        + (f"{rtt:g} ms RTT between the tiers" if rtt else "loopback between the tiers")
        + f"; {run.get('machine', {}).get('cpu_model', 'unknown CPU')}.",
        "",
    ]


def render(run_dir: Path, steps: pd.DataFrame, summary: pd.DataFrame, target_p95_ms: float) -> str:
    run = read_json(run_dir / "run.json")
    lines = [f"# Capacity — {run_dir.name}", "", *_header(run, target_p95_ms), "![capacity](capacity.png)", ""]
    first = summary["capacity_rps"].iloc[0] if len(summary) else 0.0
    table = pd.DataFrame({
        "stage": summary["stage"],
        "capacity (req/s)": summary["capacity_rps"].map("{:,.1f}".format),
        # against the first stage; n/a when that one never met the target
        "× first stage": (summary["capacity_rps"] / first).map("×{:.2f}".format) if first else "n/a",
        "at": [_at(steps[steps["stage"] == stage], target_p95_ms) for stage in summary["stage"]],
        "p95 ms": summary["p95_ms"].map(lambda v: "–" if pd.isna(v) else f"{v:,.0f}"),
        "bound by": summary.get("bound_by", "n/a (not recorded)"),
    }).fillna("–")
    lines += ["## Capacity per stage", "", table.to_markdown(index=False, disable_numparse=True), ""]
    shown = steps.assign(load=steps.apply(_load, axis=1),
                         within=within_target(steps, target_p95_ms).map({True: "yes", False: "no"}))
    for column, fmt in FORMATS.items():
        if column in shown:
            shown[column] = shown[column].map(lambda v, f=fmt: "n/a" if pd.isna(v) else f.format(v))
    shown = shown[[c for c in STEP_COLUMNS if c in shown]].rename(columns=STEP_COLUMNS)
    lines += ["## Every step", "", shown.to_markdown(index=False, disable_numparse=True), "", *READING, ""]
    return "\n".join(lines)


def write_capacity_report(run_dir: Path, steps: pd.DataFrame, summary: pd.DataFrame, target_p95_ms: float) -> Path:
    path = run_dir / "report.md"
    path.write_text(render(run_dir, steps, summary, target_p95_ms))
    return path
