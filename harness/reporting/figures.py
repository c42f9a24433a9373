"""Every figure a measurement yields, defined once: its name (the column), its unit, what it is,
how a stage's repeats combine into one (`over_repeats`), where the report shows it, and — for a
figure not computed with others in analysis.window_figures — how it is measured from the window's
record and samples. measurements.csv, summary.csv, the summary's aggregation and the report's
tables are all derived from this list; adding a figure is adding one entry here.

`over_repeats`: `median`; `sum` (of the repeats that have it); `sum-all` (only if every repeat
has it); `any`, `all` (booleans; `all` of those that have one); `mode` (the most frequent,
ties to the first measured); `first` (the first that has one); `rate` (failures over all that was
asked: computed from the summed counts); `count` (the repeats that measured); `min:X`, `max:X`,
`cv:X` (the spread of X over the repeats: summary only); `each` (one value per measurement: not in
the summary).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

Measure = Callable[[dict[str, Any], pd.DataFrame], Any]


@dataclass(frozen=True)
class Figure:
    name: str
    unit: str
    means: str
    over_repeats: str = "median"
    shown: tuple[str, ...] = ()  # the report's tables: "summary", "network", "same-traffic"
    measure: Measure | None = None  # from the window's record and its samples; None: analysis computes it

    @property
    def per_measurement(self) -> bool:
        return not self.over_repeats.startswith(("min:", "max:", "cv:")) and self.over_repeats != "count"

    @property
    def in_summary(self) -> bool:
        return self.over_repeats != "each"


S, N, T = "summary", "network", "same-traffic"
FIGURES: list[Figure] = [
    Figure("rps", "req/s", "requests completed in the window per second (open model: due in it)", shown=(S, T)),
    Figure("p50_ms", "ms", "exact median latency in the window (open model: from the due time)", shown=(S, T)),
    Figure("p95_ms", "ms", "exact 95th percentile latency", shown=(S, T)),
    Figure("p99_ms", "ms", "exact 99th percentile latency", shown=(S, T)),
    Figure("requests", "count", "requests completed in the window", "sum"),
    Figure("failures", "count", "failed requests in the window (open model: with dropped and unanswered)", "sum",
           shown=(S, T)),
    Figure("fail_rate", "share", "failures over requests asked", "rate"),
    Figure("cpu_s_per_1k", "CPU-s", "server CPU (services and PostgreSQL) per 1,000 requests", shown=(S,)),
    Figure("db_cpu_share", "share", "PostgreSQL's part of that CPU", shown=(S,)),
    Figure("server_busy_pct", "%", "how busy the server side kept its budget (the busiest node's)", shown=(S, N)),
    Figure("bound_by", "", "the verdict: budget, waiting, generator or network", "mode", shown=(S,)),
    Figure("gen_cpu_pct", "%", "the load generator's CPU, of the cores it may use", shown=(S,)),
    Figure("generator_bound", "", "the generator passed 85 % of its CPU", "any"),
    Figure("hops_per_req", "count", "internal HTTP hops per request (the edge's header)", shown=(S,)),
    Figure("db_sessions_per_req", "count", "PostgreSQL sessions opened per request", shown=(S,)),
    Figure("statements_per_req", "count", "SQL statements per request (pg_stat_statements)", shown=(S,)),
    Figure("repeats", "count", "measurements of the stage that measured", "count"),
    Figure("rps_min", "req/s", "lowest throughput over the repeats", "min:rps"),
    Figure("rps_max", "req/s", "highest throughput over the repeats", "max:rps"),
    Figure("rps_cv", "share", "throughput's coefficient of variation over the repeats", "cv:rps"),
    Figure("p95_min", "ms", "lowest p95 over the repeats", "min:p95_ms"),
    Figure("p95_max", "ms", "highest p95 over the repeats", "max:p95_ms"),
    Figure("p95_cv", "share", "p95's coefficient of variation over the repeats", "cv:p95_ms"),
    Figure("sign_in_s", "s", "from launch until every user had signed in"),
    Figure("failures_before_window", "count", "requests that failed in sign-in and warm-up", "sum"),
    Figure("quiet_before", "", "the CPUs were quiet before the measurement", "all"),
    Figure("host_speed", "units/s", "the host's speed on the budget CPUs in the window", "each"),
    Figure("speed", "ratio", "that speed against the stage's median", "each"),
    Figure("speed_min", "ratio", "slowest host speed over the repeats", "min:speed"),
    Figure("speed_max", "ratio", "fastest host speed over the repeats", "max:speed"),
    Figure("rps_at_speed", "req/s", "throughput scaled to the stage's median host speed"),
    Figure("rps_at_speed_cv", "share", "its coefficient of variation over the repeats", "cv:rps_at_speed"),
    Figure("rtt_ms", "ms", "the RTT asked of the wire between the tiers", shown=(N,)),
    Figure("net_added_ms", "ms", "the RTT the network added in the window, as probed", shown=(N,)),
    Figure("net_rtt_ms", "ms", "the probe's median RTT through it", shown=(N,)),
    Figure("net_cpu_pct", "%", "the wire's CPU, of one core", shown=(N,)),
    Figure("net_held", "", "the wire held its RTT (not saturated, within tolerance)", "all", shown=(N,)),
    Figure("db_rtts_per_req", "count", "round trips into PostgreSQL per request", shown=(N,)),
    Figure("hop_rtts_per_req", "count", "round trips into other services per request", shown=(N,)),
    Figure("wait_ms_per_req", "ms", "the network wait those round trips add up to", shown=(S, N)),
    Figure("offered_rps", "req/s", "open model: the rate offered", shown=(T,)),
    Figure("sent_rps", "req/s", "open model: the rate sent on time", shown=(T,)),
    Figure("late_starts", "count", "open model: requests sent over 10 ms after their time", shown=(T,)),
    Figure("dropped", "count", "open model: requests never sent (over 5 s late)", shown=(T,)),
    Figure("unanswered", "count", "open model: due in the window, unanswered after the drain", shown=(T,)),
    Figure("rate_held", "", "open model: the generator sent the schedule", "all", shown=(T,)),
    Figure("db_restarts", "count", "times PostgreSQL went away and answered again in the window", "sum",
           measure=lambda m, samples: m["restarts_in_window"]),
    Figure("db_down_s", "s", "how long it was down, all those times together", "sum",
           measure=lambda m, samples: round(sum(r["down_s"] for r in m["database_restarts"]
                                                 if m["window_start"] <= r["at"] <= m["window_end"]), 2)),
    Figure("writes_acknowledged", "count", "writes the API acknowledged (the whole stage)", "sum"),
    Figure("writes_found", "count", "rows the load added", "sum"),
    Figure("writes_lost", "count", "acknowledged and not found: must be 0", "sum"),
    Figure("side_effects_lost", "count", "writes found without a side effect's row", "sum"),
    Figure("samples_sent", "count", "requests locust counted", "sum-all"),
    Figure("samples_lost", "count", "of those, in no samples file", "sum-all"),
    Figure("node_cpu_s_per_1k", "CPU-s", "server CPU per 1,000 requests as the swarm's nodes read it"),
    Figure("budget_busy_pct", "%", "the budget CPUs' busy time, whoever used it"),
    Figure("budget_other_pct", "%", "of it, what no process of the stage accounts for"),
    Figure("budget_softirq_pct", "%", "the budget CPUs' softirq time"),
    Figure("budget_steal_pct", "%", "the budget CPUs' steal time"),
    Figure("load_other_pct", "%", "the load CPUs' busy time beyond the generator and the wire"),
    Figure("edge_queue_mean", "count", "connections waiting in the edge's accept queue"),
    Figure("edge_queue_max", "count", "the most that waited"),
    Figure("db_active_mean", "count", "PostgreSQL sessions active"),
    Figure("db_idle_in_tx_mean", "count", "PostgreSQL sessions idle in a transaction"),
    Figure("db_lock_waits_mean", "count", "PostgreSQL sessions waiting on a lock"),
    Figure("busiest_service", "", "the service that used the most CPU", "mode"),
    Figure("busiest_service_pct", "%", "its CPU, of one core"),
    Figure("busiest_others", "", "the busiest processes outside the run", "first"),
]
IDENTITY = ["stage", "kind", "order"]
LABELS = ["title", "part"]


def measurement_columns() -> list[str]:
    return [*IDENTITY, "repeat", "status", *(f.name for f in FIGURES if f.per_measurement), *LABELS]


def summary_columns() -> list[str]:
    return [*IDENTITY, "status", *(f.name for f in FIGURES if f.in_summary), *LABELS]


def shown_in(table: str) -> list[str]:
    """The report table's columns, the stage first."""
    return ["stage", *(f.name for f in FIGURES if table in f.shown)]


def measured(m: dict[str, Any], samples: pd.DataFrame) -> dict[str, Any]:
    """The figures measured on their own from a window's record and samples."""
    return {f.name: f.measure(m, samples) for f in FIGURES if f.measure is not None}


def _whole(total: float) -> int | float:
    """A sum of counts as a count; of seconds as seconds."""
    return int(total) if total.is_integer() else round(total, 3)


def _cv(values: pd.Series) -> float:
    """Coefficient of variation (sample standard deviation / mean); 0 for one value."""
    return float(values.std(ddof=1) / values.mean()) if len(values) > 1 and values.mean() else 0.0


def combined(ok: pd.DataFrame, group: pd.DataFrame) -> dict[str, Any]:
    """A stage's figures over its measured repeats (`ok`; `group`: every repeat, measured or not)."""
    out: dict[str, Any] = {}
    for f in FIGURES:
        rule, _, of = f.over_repeats.partition(":")
        column = ok[f.name] if f.name in ok else pd.Series(dtype=float)
        present = column.dropna()
        if rule == "median":
            out[f.name] = float(pd.to_numeric(column, errors="coerce").median())
        elif rule == "sum":
            out[f.name] = _whole(float(column.fillna(0).sum())) if not present.empty else np.nan
        elif rule == "sum-all":
            out[f.name] = _whole(float(column.sum())) if len(present) == len(column) and len(column) else np.nan
        elif rule == "any":
            out[f.name] = bool(present.astype(bool).any())
        elif rule == "all":
            source = group[f.name] if f.name == "quiet_before" else present
            out[f.name] = bool(source.astype(bool).all()) if len(source.dropna()) else np.nan
        elif rule == "mode":
            out[f.name] = str(present.mode().iloc[0]) if not present.empty else np.nan
        elif rule == "first":
            out[f.name] = str(present.iloc[0]) if not present.empty else np.nan
        elif rule == "count":
            out[f.name] = len(ok)
        elif rule in ("min", "max"):
            out[f.name] = float(getattr(ok[of], rule)())
        elif rule == "cv":
            out[f.name] = _cv(ok[of])
    # the open model's failures include requests never answered: its rate is of what was asked
    lost = ok[["dropped", "unanswered"]].fillna(0).to_numpy().sum() if {"dropped", "unanswered"} <= set(ok) else 0
    asked = out["requests"] + lost
    out["fail_rate"] = out["failures"] / asked if asked else np.nan
    return out
