"""Where the tail comes from: each saturated stage's p95/p50, per endpoint, against the same
stage below saturation (the same-traffic pass) and against the harness's own path (the
ceiling: the same generator, wire and budget on static JSON). A tail that only the saturated
closed loop shows, and that the ceiling does not, is the stage queueing, not the harness; the
PostgreSQL sessions left idle in a transaction say where its requests queue (a connection held
while its process waits for the budget's CPU is one the next request cannot have)."""

from pathlib import Path

import pandas as pd

from harness.kinds import Kind, measurement_id
from harness.reporting.analysis import ladder_ceiling, ratios

HEAVY = 3.0  # p95 at least this many times p50: a heavy tail worth a word


def _ratio(row: pd.Series) -> float:
    return float(row["p95_ms"]) / float(row["p50_ms"]) if row["p50_ms"] > 0 else float("nan")


def tail_lines(run_dir: Path, summary: pd.DataFrame) -> list[str]:
    ladder = ratios(summary)
    if ladder.empty:
        return []
    # budget-bound stages only: a waiting stage's tail is its timeouts (see "Timeouts")
    heavy = ladder[[(_ratio(r) >= HEAVY and r.get("bound_by") == "budget") for _, r in ladder.iterrows()]]
    if heavy.empty:
        return []
    path = run_dir / "endpoints.csv"
    endpoints = pd.read_csv(path) if path.is_file() and path.stat().st_size > 1 else pd.DataFrame()
    ceiling = summary[ladder_ceiling(summary) & (summary["status"] == "ok")]
    lines = ["## Tails", ""]
    if not ceiling.empty:
        top = ceiling.iloc[0]
        lines += [f"The harness's own path (generator, wire, budget) on static JSON: p95 {_ratio(top):.1f}× p50 "
                  f"(`{top['stage']}`); a stage's tail beyond that is the stage's.", ""]
    for _, row in heavy.iterrows():
        stage = str(row["stage"])
        parts = [f"**{stage}**: p95 {_ratio(row):.1f}× p50 in the closed loop"]
        mine = endpoints[endpoints["stage"] == stage] if not endpoints.empty else endpoints
        if not mine.empty:
            spread = (mine["p95_ms"] / mine["p50_ms"]).round(1)
            worst = mine.assign(ratio=spread).sort_values("ratio", ascending=False)
            rows = zip(worst["endpoint"], worst["ratio"], worst["p50_ms"], strict=True)
            parts.append("by endpoint " + ", ".join(f"`{e}` {r:.1f}× (p50 {p:,.0f} ms)" for e, r, p in rows))
            # the mix: the overall p95 falls among the slow endpoints while its p50 sits among the fast
            parts.append(f"the slowest endpoint's p50 is {mine['p50_ms'].max() / mine['p50_ms'].min():.1f}× the "
                         "fastest's, which alone stretches the stage's p95/p50")
        open_name = measurement_id(stage, Kind.SAME_TRAFFIC)
        found = summary[(summary["stage"] == open_name) & (summary["status"] == "ok")]
        if not found.empty:
            other = found.iloc[0]
            held = "" if bool(other.get("rate_held", True)) else ", not offered in full"
            parts.append(f"at the same traffic ({other['offered_rps']:,.0f} req/s{held}, budget "
                         f"{other['server_busy_pct']:.0f} % busy) {_ratio(other):.1f}×")
        idle_tx = row.get("db_idle_in_tx_mean", float("nan"))
        if idle_tx == idle_tx and idle_tx >= 1:
            parts.append(f"{idle_tx:.1f} PostgreSQL sessions idle in a transaction on average (connections checked "
                         f"out while their process waits for the budget, {row['server_busy_pct']:.0f} % busy)")
        lines.append("- " + "; ".join(parts) + ".")
    lines += ["", "Read together: the tail shrinks when the same stage runs below saturation and the harness's own "
              "path does not have it, so it is queueing inside the saturated stage, not the generator or the wire. "
              "Two parts of it are visible here: the mix (the endpoints that cross into the jobs service and the "
              "database several times are several times slower at the median than `/api/me`), and within each "
              "endpoint ~150 requests sharing one CPU, where a request that holds a pooled connection while its "
              "process waits for the CPU (sessions idle in a transaction) holds up the next one that needs it. "
              "The same-traffic pass is the figure for latency; the closed loop's p95 is its load's.", ""]
    return lines
