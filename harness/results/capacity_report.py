"""report.md of a capacity run: what was asked, the chart, each stage's capacity with what bound
it, and every step — from the steps' table (capacity_steps.csv) and run.json alone."""

from pathlib import Path
from typing import Any

import pandas as pd

from harness.results.files import read_json

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


def _at(stage_steps: pd.DataFrame, capacity_rps: float) -> str:
    """The step a capacity was read at (the best step within the target has that throughput)."""
    best = stage_steps[(stage_steps["rps"] - capacity_rps).abs() <= 1e-3 * max(capacity_rps, 1.0)]
    return _load(best.iloc[0]) if capacity_rps and not best.empty else "no step within the target"


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
        "at": [_at(steps[steps["stage"] == s["stage"]], s["capacity_rps"]) for _, s in summary.iterrows()],
        "p95 ms": summary["p95_ms"].map(lambda v: "–" if pd.isna(v) else f"{v:,.0f}"),
        "bound by": summary.get("bound_by", "n/a (not recorded)"),
    }).fillna("–")
    lines += ["## Capacity per stage", "", table.to_markdown(index=False, disable_numparse=True), ""]
    shown = steps.assign(load=steps.apply(_load, axis=1),
                         within=(steps["p95_ms"] <= target_p95_ms).map({True: "yes", False: "no"}))
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
