"""From a results folder's raw files to tidy tables (pandas). No measuring, no plotting."""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import upgrade
from harness.kinds import Kind
from harness.load.samples import due_in_window, from_due_time, in_window, latency_stats, load_samples
from harness.load.shape import DROPPED
from harness.measure.waiting import waiting_figures
from harness.measure.writes import writes_figures
from harness.network.emulator import round_trips
from harness.reporting import figures, flames, layers
from harness.run_folder import read_json, read_measurement, read_stage, write_json

CASE_STUDY, BEYOND = "case-study", "beyond"  # a stage's `part` (harness.manifests.manifest)

GENERATOR_BOUND_PCT = 85.0
# the budget set the throughput when the stage's processes and PostgreSQL used this much of it
BUDGET_BOUND_PCT = 90.0
# a step's throughput and CPU per request within this fraction of the step before: "about as fast"
STEP_SAME = 0.05
# a fix that pays by overlapping waits: the budget below this busy before, and this much busier after
OVERLAPPED_BUSY_PCT, OVERLAP_GAIN_PCT = 80.0, 10.0
# the open model (--rate): what was offered, what the generator managed to send on time, and what
# the server left unanswered (harness/load/recorder.py)
LATE_START_MS = 10.0  # sent this long after its due time: no user of the pool was free
RATE_TOLERANCE = 0.02  # the generator held the schedule: sent within 2 % of offered ...
LATE_SHARE = 0.01  # ... and at most 1 % of the requests started late
# measurements.csv and summary.csv have a column per figure (harness.reporting.figures: its one definition)


def stage_dirs(run_dir: Path) -> list[Path]:
    """Every measurement folder, in ladder order, then repeat order."""
    def key(p: Path) -> tuple[int, int]:
        meta = read_stage(p)
        return int(meta["order"]), int(meta.get("repeat", 1))
    return sorted((p for p in (run_dir / "stages").glob("*") if (p / "stage.json").is_file()), key=key)


def open_model_stats(samples: pd.DataFrame, rate: float, window_seconds: float) -> dict[str, Any]:
    """The open model's figures from the requests due in the window (as from_due_time gives
    them): latency from the due time
    (so a backlog shows), the throughput achieved (`rps`, `sent_rps`: requests due in the window
    that were sent and answered by the end of the drain, per second), `dropped` (not started
    within MAX_LATE_SECONDS of their time, never sent), late starts (no user
    of the pool was free), and the requests still unanswered when the drain ended, which count
    as failures. `rate_held`: the generator sent the schedule (within RATE_TOLERANCE, at most
    LATE_SHARE late); a stage where it did not was not offered the rate."""
    is_dropped = samples["name"] == DROPPED
    dropped = int(is_dropped.sum())
    answered = samples[~is_dropped]
    due = answered["intended_at"].astype(float)
    started = answered["completed_at"].astype(float) - answered["service_time_ms"].astype(float) / 1000
    offered = rate * window_seconds
    stats = latency_stats(answered, window_seconds)
    unanswered = max(0, int(round(offered)) - len(samples))
    late = int(((started - due) * 1000 > LATE_START_MS).sum())
    sent = len(answered) / window_seconds
    lost = dropped + unanswered
    stats.update({
        "failures": stats["failures"] + lost,
        "fail_rate": (stats["failures"] + lost) / offered if offered else np.nan,
        "offered_rps": rate, "sent_rps": sent, "late_starts": late, "dropped": dropped, "unanswered": unanswered,
        "rate_held": bool(abs(sent / rate - 1) <= RATE_TOLERANCE and late <= LATE_SHARE * offered),
    })
    return stats


# A measurement's own figures, computed once from its raw files when it ends (`record`) and kept
# beside them: every later table, chart and report of the run reads these, never the samples again
FIGURES = "figures.json"
ENDPOINT_FIGURES = "endpoints.csv"


def record(stage_dir: Path, cpus: float | None = None) -> dict[str, Any]:
    """A finished measurement's window figures and per-endpoint table, from one parse of its
    samples, written beside them (FIGURES, ENDPOINT_FIGURES); `cpus` is the budget (default: the
    run's, from run.json two folders up)."""
    m = read_measurement(stage_dir)
    everything = load_samples(stage_dir, window_only=False)
    figures = window_figures(everything, m, _budget_cpus(stage_dir) if cpus is None else cpus)
    write_json(stage_dir / FIGURES, {k: v.item() if isinstance(v, np.generic) else v for k, v in figures.items()})
    endpoint_table(_window(everything, m)).to_csv(stage_dir / ENDPOINT_FIGURES, index=False, float_format="%.4g")
    return figures


def recorded(stage_dir: Path) -> dict[str, Any]:
    """A measurement's figures as `record` kept them (recorded now if they were not)."""
    path = stage_dir / FIGURES
    return read_json(path) if path.is_file() else record(stage_dir)


def measurement_row(stage_dir: Path) -> dict[str, Any]:
    meta = read_stage(stage_dir)
    row: dict[str, Any] = {"stage": meta["id"], "kind": meta["kind"], "order": meta["order"],
                           "repeat": meta.get("repeat", 1),
                           "status": meta["status"], "title": meta.get("title", ""),
                           "part": meta.get("part", CASE_STUDY),
                           "quiet_before": meta.get("idle", {}).get("quiet", True)}
    if meta["status"] != "ok":
        return row
    row.update(recorded(stage_dir))
    return row


def _window(everything: pd.DataFrame, m: dict[str, Any]) -> pd.DataFrame:
    """The requests a window's figures are of: completed in it, or in the open model due in it
    (latency from the due time)."""
    if m.get("rate"):
        return from_due_time(everything[due_in_window(everything, m)])
    return everything[in_window(everything, m)]


def window_figures(everything: pd.DataFrame, m: dict[str, Any], budget_cpus: float) -> dict[str, Any]:
    """One measuring window's figures from every request locust recorded (`everything`: the window
    gives the figures, what came before it the failures before the window) and its record `m`:
    latency, CPU per request, the mechanisms, the network, the writes, the evidence and what bound
    it. A ladder stage's and a capacity step's alike."""
    row: dict[str, Any] = {}
    samples = _window(everything, m)
    if m.get("rate"):
        row.update(open_model_stats(samples, m["rate"], m["window_seconds"]))
    else:
        row.update(latency_stats(samples, m["window_seconds"]))
    before = everything["completed_at"] < m["window_start"]
    requests = row["requests"] or np.nan
    db = m["db"]
    row.update({
        "host_speed": _nan_if_none(m["host_speed"].get("mean")),
        "cpu_s_per_1k": 1000 * m["server_cpu_seconds"] / requests,
        # the same as each tier's node read it from its tasks' cgroups (swarm); NaN where the
        # window read every tier's processes on this host
        "node_cpu_s_per_1k": (1000 * sum(m["node_cpu_seconds"].values()) / requests
                              if m.get("node_cpu_seconds") else np.nan),
        # PostgreSQL's share of that CPU
        "db_cpu_share": (m["db_cpu_seconds"] / m["server_cpu_seconds"]
                         if m["db_cpu_seconds"] is not None and m["server_cpu_seconds"] else np.nan),
        "gen_cpu_pct": m["generator_cpu_pct"],
        # how busy the server side kept its budget: ~100 % means the budget set the throughput,
        # well below means the stage waited (on the network, a lock, a queue) with CPU to spare
        # (with tiers on several nodes, the busiest node's: each has the budget's CPUs)
        # (side by side with another variant, both together: harness.measure.side_by_side)
        "server_busy_pct": 100 * _busy_seconds(m) / m["window_seconds"] / budget_cpus,
        "sign_in_s": np.nan if m.get("sign_in_seconds") is None else m["sign_in_seconds"],
        # sign-in and warm-up are outside the figures, but what failed there is not dropped
        "failures_before_window": int((before & (everything["ok"] == 0)).sum()),
        "generator_bound": bool(m["generator_cpu_pct"] > GENERATOR_BOUND_PCT),
        "hops_per_req": float(samples["hops"].mean()),
        "db_sessions_per_req": db["sessions"] / requests,
        "statements_per_req": np.nan if db["statements"] is None else db["statements"] / requests,
    })
    row.update(network_figures(m.get("network"), requests))
    row.update(writes_figures(m["writes"], everything))
    row.update(samples_figures(m["generator_sent"], everything))
    row.update(figures.measured(m, everything))
    row.update(waiting_figures(m["waiting"], row["server_busy_pct"],
                               m["generator_cpu_pct"] / 100 * m.get("generator_cores", 1),
                               _number(row.get("net_cpu_pct")) / 100))
    row["bound_by"] = bound_by(row)
    return row


def _busy_seconds(m: dict[str, Any]) -> float:
    """The CPU seconds the window kept the budget busy with: the server side's; with tiers on
    several nodes the busiest node's; side by side, every variant's on the shared budget."""
    if shared := (m.get("side_by_side") or {}).get("budget_busy_seconds"):
        return float(shared)
    return float(max((m.get("node_busy_seconds") or {"": m["server_cpu_seconds"]}).values()))


def samples_figures(sent: int | None, everything: pd.DataFrame) -> dict[str, Any]:
    """Requests locust counted, and how many of them no samples file holds (dropped requests of the
    open model were never sent, so neither count has them)."""
    if sent is None:
        return {"samples_sent": np.nan, "samples_lost": np.nan}
    recorded = int((everything["name"] != DROPPED).sum())
    return {"samples_sent": sent, "samples_lost": sent - recorded}


def _number(value: Any) -> float:
    """A figure that may be missing (None, NaN: loopback has no wire) as a number, 0 when missing."""
    return float(value) if value is not None and value == value else 0.0


def bound_by(row: dict[str, Any]) -> str:
    """What set a measurement's numbers, from figures that do not depend on the stage's code:
    `generator` (locust saturated), `network` (the wire did not hold its RTT), `budget` (the
    server side used at least BUDGET_BOUND_PCT of its CPU budget), else `waiting` (CPU to spare:
    the stage waited on the network, a lock, a queue, a pool)."""
    if row.get("generator_bound"):
        return "generator"
    if not row.get("net_held", True):
        return "network"
    if row.get("server_busy_pct", 0.0) >= BUDGET_BOUND_PCT:
        return "budget"
    return "waiting"


def _budget_cpus(stage_dir: Path) -> float:
    run = stage_dir.parent.parent / "run.json"
    return budget_cpus(read_json(run).get("budget", {}) if run.is_file() else {})


def budget_cpus(budget: dict[str, Any]) -> float:
    """CPUs' worth of time the server side may use (its quota, else its CPU count), from the
    budget as run.json records it."""
    if budget.get("cpu_quota"):
        return float(budget["cpu_quota"])
    return float(len(str(budget.get("server_cpus", "1")).split(",")))


def network_figures(record: dict[str, Any] | None, requests: float) -> dict[str, Any]:
    """The network's columns of one measurement; loopback (no wire) has an RTT of 0 and held, and so
    has a real network, with the RTT its probe measured."""
    if not record:
        return {"rtt_ms": 0.0, "net_held": True}
    if "real" in record:  # a real network measured by the probe (harness.network.real): no wire's counters
        return {"rtt_ms": 0.0, "net_rtt_ms": _nan_if_none(record["measured_rtt_ms"]),
                "net_added_ms": _nan_if_none(record["added_rtt_ms"]), "net_held": True}
    crossed = round_trips(record)
    per_request = (crossed["db"] + crossed["services"]) / requests
    return {
        "rtt_ms": record["rtt_ms"],
        "net_rtt_ms": _nan_if_none(record["measured_rtt_ms"]),
        "net_added_ms": _nan_if_none(record["added_rtt_ms"]),
        "net_cpu_pct": record["cpu_pct"], "net_held": bool(record["held"]),
        "db_rtts_per_req": crossed["db"] / requests, "hop_rtts_per_req": crossed["services"] / requests,
        # waiting a request's work adds up to (not all of it on one request's critical path)
        "wait_ms_per_req": per_request * record["rtt_ms"],
    }


def _nan_if_none(value: float | None) -> float:
    return np.nan if value is None else value


def figures_available(run_dir: Path) -> bool:
    """Every measured stage has its recorded figures, or the samples to record them from (runs
    committed before figures were recorded keep only the run's tables)."""
    measured = [d for d in stage_dirs(run_dir) if read_stage(d)["status"] == "ok"]
    return all((d / FIGURES).is_file() or any(d.glob("samples*.csv")) for d in measured)


def measurements(run_dir: Path) -> pd.DataFrame:
    per = pd.DataFrame([measurement_row(d) for d in stage_dirs(run_dir)], columns=figures.measurement_columns())
    return with_host_speed(per)


def run_host_speed(run_dir: Path) -> float:
    """The host's median speed over a run's windows (units/s); NaN where none was watched."""
    speeds = [read_measurement(d)["host_speed"].get("mean") for d in stage_dirs(run_dir)
              if (d / "measurement.json").is_file()]
    known = [float(s) for s in speeds if s]
    return float(np.median(known)) if known else np.nan


def with_host_speed(per: pd.DataFrame) -> pd.DataFrame:
    """`speed`: the host's speed in each window against the median of that stage's windows
    (1.10: 10 % faster than usual for it); `rps_at_speed`: throughput scaled to that median.
    Every stage keeps its budget CPU busy, so its throughput moves with the host's speed; the
    scaling takes that part out of the spread between repeats and leaves the stage's own.
    The reference is per stage because the watcher's bursts share the CPU with the stage, and
    how much a stage's work cools the caches for them differs from stage to stage."""
    timed = per["host_speed"].astype(float)
    reference = timed.groupby(per["stage"]).transform("median")
    per["speed"] = timed / reference.where(reference > 0)
    per["rps_at_speed"] = per["rps"].astype(float) / per["speed"]
    return per


def summarise(run_dir: Path, per: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per stage: its repeats combined as each figure says (harness.reporting.figures):
    medians, sums, the spread of rps and p95."""
    per = measurements(run_dir) if per is None else per
    rows = []
    for stage, group in per.groupby("stage", sort=False):
        ok = group[group["status"] == "ok"]
        failed = group[group["status"] != "ok"]
        row: dict[str, Any] = {"stage": stage, "kind": group["kind"].iloc[0], "order": group["order"].iloc[0],
                               "title": group["title"].iloc[0], "part": group["part"].iloc[0],
                               "status": "ok" if failed.empty else str(failed["status"].iloc[0]),
                               "repeats": len(ok), "quiet_before": bool(group["quiet_before"].all())}
        if not ok.empty:
            row.update(figures.combined(ok, group))
        rows.append(row)
    return pd.DataFrame(rows, columns=figures.summary_columns())


def endpoint_table(samples: pd.DataFrame) -> pd.DataFrame:
    """One window's requests per endpoint: requests, failures, p50/p95, hops."""
    g = samples.groupby("name")
    return pd.DataFrame({
        "requests": g.size(), "failures": g["ok"].apply(lambda ok: int((ok == 0).sum())),
        "p50_ms": g["response_time_ms"].quantile(0.5), "p95_ms": g["response_time_ms"].quantile(0.95),
        "hops_per_req": g["hops"].mean(),
    }).reset_index().rename(columns={"name": "endpoint"})


def endpoints(run_dir: Path) -> pd.DataFrame:
    """Per measurement and endpoint: requests, failures, p50/p95, hops (as `record` kept them)."""
    frames = []
    for d in stage_dirs(run_dir):
        if read_stage(d)["status"] != "ok":
            continue
        if not (d / ENDPOINT_FIGURES).is_file():
            record(d)
        frame = pd.read_csv(d / ENDPOINT_FIGURES, dtype={"endpoint": str})
        frame.insert(0, "stage", d.name)  # a measurement: <stage id>, or <stage id>.r<k> for repeats
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_tables(run_dir: Path, profiles: bool = True) -> pd.DataFrame:
    """The run's tables from its measurements' recorded figures; `profiles`: also the profile
    tables, which read py-spy's raw files (a run writes them once, when it ends)."""
    per = measurements(run_dir)
    per.to_csv(run_dir / "measurements.csv", index=False, float_format="%.4g")
    summary = summarise(run_dir, per)
    summary.to_csv(run_dir / "summary.csv", index=False, float_format="%.4g")
    endpoints(run_dir).to_csv(run_dir / "endpoints.csv", index=False, float_format="%.4g")
    if profiles:
        layers.write_profile_tables(run_dir, per, summary)
        ok = per[(per["status"] == "ok") & (per["repeat"] == 1)]
        flames.write_flames(run_dir, {str(s): int(r) for s, r in zip(ok["stage"], ok["requests"], strict=True)})
    return summary


def read_summary(run_dir: Path) -> pd.DataFrame:
    """summary.csv in today's format (harness.upgrade): a run committed with its derived tables only
    is redrawn from them, whatever its age."""
    path = run_dir / "summary.csv"
    if not path.is_file():
        return summarise(run_dir)
    return upgrade.table(pd.read_csv(path), figures.summary_columns())


def beyond_case_study(summary: pd.DataFrame) -> "pd.Series[bool]":
    """Rows of the rungs after the case study's end."""
    return summary["part"].eq(BEYOND)


def ladder_ceiling(summary: pd.DataFrame) -> "pd.Series[bool]":
    """Rows of the static-JSON ceiling measurement (not a step of the ladder)."""
    return summary["kind"].eq(Kind.CEILING.value)


def same_traffic_rows(summary: pd.DataFrame) -> "pd.Series[bool]":
    """Rows of a run's same-traffic pass: every stage at one offered rate."""
    return summary["kind"].eq(Kind.SAME_TRAFFIC.value)


def profiled_rows(summary: pd.DataFrame) -> "pd.Series[bool]":
    """Rows of a --profile run's profiled measurements: py-spy attached."""
    return summary["kind"].eq(Kind.PROFILED.value)


def side_rows(summary: pd.DataFrame) -> "pd.Series[bool]":
    """Rows that are not steps of the closed-loop ladder: the ceiling, the same-traffic pass and
    the profiled measurements (their throughput carries the profiler's cost)."""
    return ~summary["kind"].eq(Kind.LADDER.value)


def open_model_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The measured rows of the open model: a run's same-traffic pass, or every row of a --rate run."""
    ok = summary[summary["status"] == "ok"]
    passed = ok[same_traffic_rows(ok)]
    if passed.empty and "offered_rps" in ok:
        passed = ok[ok["offered_rps"].notna() & (ok["offered_rps"] > 0) & ~ladder_ceiling(ok)]
    return passed.sort_values("order")


def ratios(summary: pd.DataFrame) -> pd.DataFrame:
    """Each measured stage against the first measured one (the baseline) and its neighbour."""
    ok = summary[(summary["status"] == "ok") & ~side_rows(summary)].sort_values("order").reset_index(drop=True)
    if ok.empty:
        return ok
    base = ok.iloc[0]
    ok["speedup_vs_baseline"] = ok["rps"] / base["rps"]
    ok["p95_reduction_vs_baseline"] = base["p95_ms"] / ok["p95_ms"]
    ok["speedup_vs_previous"] = ok["rps"] / ok["rps"].shift(1)
    return ok
