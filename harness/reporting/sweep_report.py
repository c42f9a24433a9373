"""An RTT sweep's tables, chart and report, from the ladders it ran (one per RTT).

  sweep.csv           one row per stage and RTT, from each ladder's summary.csv
  steps.csv           one row per step (neighbouring stages) and RTT: throughput ratio, and the
                      CPU and wait per request on either side
  sweep.png, sweep.md the chart and what it says

A step "pays" at an RTT when it raises throughput by more than PAYS_ABOVE (the ladder's noise
budget); it "starts to pay" at the smallest swept RTT from which it pays at every larger one.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from harness.reporting.analysis import ladder_ceiling, read_summary  # noqa: E402
from harness.reporting.plots import plain_log
from harness.reporting.png import save_chart  # noqa: E402
from harness.reporting.tables import markdown  # noqa: E402
from harness.run_folder import read_json  # noqa: E402

PAYS_ABOVE = 1.10
CASE_STUDY_ASYNC = 3.0  # the case study's gain for the async step ("roughly 3x")
SWEEP_COLUMNS = ["stage", "order", "rtt_ms", "status", "rps", "p95_ms", "cpu_s_per_1k", "server_busy_pct",
                 "wait_ms_per_req", "db_rtts_per_req", "hop_rtts_per_req", "net_added_ms", "net_rtt_ms", "net_cpu_pct",
                 "net_held"]


def sweep_table(sweep_dir: Path) -> pd.DataFrame:
    """Every ladder's summary, one row per stage and RTT (the ceiling left out)."""
    frames = []
    for rtt, folder in read_json(sweep_dir / "run.json").get("runs", {}).items():
        run_dir = sweep_dir / folder
        if not (run_dir / "stages").is_dir():
            continue
        summary = read_summary(run_dir)
        summary = summary[~ladder_ceiling(summary)].copy()
        summary["rtt_ms"] = float(rtt)
        frames.append(summary.reindex(columns=SWEEP_COLUMNS))
    if not frames:
        return pd.DataFrame(columns=SWEEP_COLUMNS)
    return pd.concat(frames, ignore_index=True).sort_values(["rtt_ms", "order"]).reset_index(drop=True)


def step_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per step (stage against the one before it) and RTT: the throughput ratio and both sides'
    CPU and wait per request, so a step's gain can be read as CPU saved or wait overlapped."""
    rows = []
    ok = table[table["status"] == "ok"]
    for rtt, ladder in ok.groupby("rtt_ms"):
        ladder = ladder.sort_values("order").reset_index(drop=True)
        for i in range(1, len(ladder)):
            a, b = ladder.iloc[i - 1], ladder.iloc[i]
            rows.append({
                "step": f"{a['stage']} → {b['stage']}", "stage": b["stage"], "order": b["order"], "rtt_ms": rtt,
                "rps_ratio": b["rps"] / a["rps"], "p95_ratio": a["p95_ms"] / b["p95_ms"],
                "cpu_ms_before": a["cpu_s_per_1k"], "cpu_ms_after": b["cpu_s_per_1k"],
                "busy_before": a["server_busy_pct"], "busy_after": b["server_busy_pct"],
                "wait_ms_before": a["wait_ms_per_req"], "wait_ms_after": b["wait_ms_per_req"],
                "held": bool(a["net_held"]) and bool(b["net_held"]),
            })
    return pd.DataFrame(rows)


def pays_from(steps: pd.DataFrame, stage: str) -> float | None:
    """The smallest RTT from which the step into `stage` pays at every larger swept RTT."""
    mine = steps[steps["stage"] == stage].sort_values("rtt_ms")
    start = None
    for _, row in mine.iterrows():
        pays = row["rps_ratio"] > PAYS_ABOVE and row["held"]
        start = (start if start is not None else float(row["rtt_ms"])) if pays else None
    return start


def draw_sweep(sweep_dir: Path, table: pd.DataFrame, steps: pd.DataFrame) -> Path | None:
    ok = table[table["status"] == "ok"]
    if ok.empty:
        return None
    fig, (thr, p95, step) = plt.subplots(1, 3, figsize=(17, 5.2))
    for stage, rows in ok.groupby("stage", sort=False):
        rows = rows.sort_values("rtt_ms")
        thr.plot(rows["rtt_ms"], rows["rps"], marker="o", label=stage)
        p95.plot(rows["rtt_ms"], rows["p95_ms"] / 1000, marker="o", label=stage)
    thr.set(title="Throughput against RTT between the tiers", xlabel="RTT (ms)", ylabel="req/s (log)", yscale="log")
    plain_log(thr.yaxis)
    p95.set(title="p95 against RTT (closed loop, same users)", xlabel="RTT (ms)", ylabel="p95 (s)")
    thr.legend(fontsize=8)
    for name, rows in steps.groupby("step", sort=False):
        rows = rows.sort_values("rtt_ms")
        step.plot(rows["rtt_ms"], rows["rps_ratio"], marker="o", label=name)
    step.axhline(CASE_STUDY_ASYNC, color="grey", linestyle="--", linewidth=1)
    step.annotate("case study: async step ~3×", (0, CASE_STUDY_ASYNC), textcoords="offset points", xytext=(4, 4),
                  fontsize=8, color="grey")
    step.axhline(1.0, color="black", linewidth=0.6)
    step.set(title="Each step's throughput ratio against RTT", xlabel="RTT (ms)", ylabel="× the stage before")
    step.legend(fontsize=7)
    for ax in (thr, p95, step):
        ax.grid(alpha=0.3)
    fig.suptitle(sweep_dir.name, fontsize=9)
    fig.tight_layout()
    path = sweep_dir / "sweep.png"
    save_chart(fig, path)
    plt.close(fig)
    return path


def _why(row: pd.Series) -> str:
    """CPU per request against wait per request, either side of one step at one RTT."""
    return (f"CPU {row['cpu_ms_before']:.1f} → {row['cpu_ms_after']:.1f} ms/req, budget busy "
            f"{row['busy_before']:.0f} → {row['busy_after']:.0f} %, network wait "
            f"{row['wait_ms_before']:.1f} → {row['wait_ms_after']:.1f} ms/req")


def write_sweep_report(sweep_dir: Path, table: pd.DataFrame, steps: pd.DataFrame) -> Path:
    record = read_json(sweep_dir / "run.json")
    lines = [f"# RTT sweep {sweep_dir.name}", "",
             f"Ladders at {', '.join(f'{r:g}' for r in record['rtts_ms'])} ms RTT between the tiers; "
             f"backend {record['backend']}, server CPUs {record['budget']['server_cpus']}, "
             f"{record['load']['users']} users, {record['load']['duration']:g} s windows. "
             "Each RTT is a complete run of its own (rtt-<ms>/).", "", "![sweep](sweep.png)", "",
             "## Throughput (req/s) by RTT", ""]
    if not table.empty:
        pivot = table.pivot_table(index=["order", "stage"], columns="rtt_ms", values="rps").droplevel(0)
        pivot.columns = [f"{c:g} ms" for c in pivot.columns]
        lines += [markdown(pivot.reset_index()), "", "## p95 (ms) by RTT", ""]
        pivot = table.pivot_table(index=["order", "stage"], columns="rtt_ms", values="p95_ms").droplevel(0)
        pivot.columns = [f"{c:g} ms" for c in pivot.columns]
        lines += [markdown(pivot.reset_index()), ""]
        unheld = table[~table["net_held"].fillna(True).astype(bool)]
        if not unheld.empty:
            lines += ["**The wire did not hold its RTT in:** " + ", ".join(
                f"{r.stage} at {r.rtt_ms:g} ms" for r in unheld.itertuples()) + " — those cells are not comparable.",
                ""]
    lines += ["## When each step pays", "",
              f"A step pays when it raises throughput by more than {PAYS_ABOVE - 1:.0%}.", ""]
    for stage, rows in steps.groupby("stage", sort=False):
        rows = rows.sort_values("rtt_ms")
        start = pays_from(steps, str(stage))
        ratios = ", ".join(f"×{r.rps_ratio:.2f} at {r.rtt_ms:g} ms" for r in rows.itertuples())
        verdict = (f"pays from {start:g} ms" if start is not None and start > 0 else
                   "pays at every RTT swept" if start is not None else "does not pay at the largest RTT swept")
        last = rows.iloc[-1]
        lines += [f"- **{rows['step'].iloc[0]}**: {verdict} ({ratios}). At {last['rtt_ms']:g} ms: {_why(last)}."]
    lines += ["", "Reading it: a step that saves CPU per request pays at every RTT while the budget is busy; a step "
              "that removes or overlaps waiting (hops, connection set-ups, blocking calls) pays once the wait per "
              "request is large against the CPU per request. Wait per request is the round trips a request's work "
              "crossed (connections + exchanges through the wire) × the RTT; in a stage that blocks, that wait "
              "holds a whole process, so the budget sits idle (busy % well below 100)."]
    path = sweep_dir / "sweep.md"
    path.write_text("\n".join(lines) + "\n")
    return path
