"""From a results folder's raw files to tidy tables (pandas). No measuring, no plotting."""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.results import read_json

GENERATOR_BOUND_PCT = 85.0
SUMMARY_COLUMNS = [
    "stage", "order", "status", "rps", "p50_ms", "p95_ms", "p99_ms", "requests", "failures",
    "fail_rate", "cpu_s_per_1k", "gen_cpu_pct", "generator_bound", "hops_per_req",
    "db_sessions_per_req", "statements_per_req", "title",
]


def stage_dirs(run_dir: Path) -> list[Path]:
    return sorted((p for p in (run_dir / "stages").glob("*") if (p / "stage.json").is_file()),
                  key=lambda p: int(read_json(p / "stage.json")["order"]))


def load_samples(stage_dir: Path) -> pd.DataFrame:
    samples = pd.read_csv(stage_dir / "samples.csv", dtype={"name": str})
    samples["hops"] = pd.to_numeric(samples["hops"], errors="coerce")
    return samples


def latency_stats(samples: pd.DataFrame, window_seconds: float) -> dict[str, float]:
    """Throughput and exact percentiles from every request completed in the window."""
    times = samples["response_time_ms"].to_numpy(dtype=float)
    count = len(times)
    p50, p95, p99 = (np.percentile(times, [50, 95, 99]) if count else (np.nan,) * 3)
    failures = int((samples["ok"] == 0).sum())
    return {"rps": count / window_seconds if window_seconds > 0 else np.nan,
            "p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99),
            "requests": count, "failures": failures,
            "fail_rate": failures / count if count else np.nan}


def stage_row(stage_dir: Path) -> dict[str, Any]:
    meta = read_json(stage_dir / "stage.json")
    row: dict[str, Any] = {"stage": meta["id"], "order": meta["order"], "status": meta["status"],
                           "title": meta.get("title", "")}
    if meta["status"] != "ok":
        return row
    m = read_json(stage_dir / "measurement.json")
    samples = load_samples(stage_dir)
    row.update(latency_stats(samples, m["window_seconds"]))
    requests = row["requests"] or np.nan
    db = m["db"]
    row.update({
        "cpu_s_per_1k": 1000 * m["server_cpu_seconds"] / requests,
        "gen_cpu_pct": m["generator_cpu_pct"],
        "generator_bound": bool(m["generator_cpu_pct"] > GENERATOR_BOUND_PCT),
        "hops_per_req": float(samples["hops"].mean()),
        "db_sessions_per_req": db["sessions"] / requests,
        "statements_per_req": np.nan if db["statements"] is None else db["statements"] / requests,
    })
    return row


def summarise(run_dir: Path) -> pd.DataFrame:
    rows = [stage_row(d) for d in stage_dirs(run_dir)]
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def endpoints(run_dir: Path) -> pd.DataFrame:
    """Per stage and endpoint: requests, failures, p50/p95, hops."""
    frames = []
    for d in stage_dirs(run_dir):
        if read_json(d / "stage.json")["status"] != "ok":
            continue
        s = load_samples(d)
        g = s.groupby("name")
        frame = pd.DataFrame({
            "requests": g.size(), "failures": g["ok"].apply(lambda ok: int((ok == 0).sum())),
            "p50_ms": g["response_time_ms"].quantile(0.5), "p95_ms": g["response_time_ms"].quantile(0.95),
            "hops_per_req": g["hops"].mean(),
        }).reset_index().rename(columns={"name": "endpoint"})
        frame.insert(0, "stage", d.name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_tables(run_dir: Path) -> pd.DataFrame:
    summary = summarise(run_dir)
    summary.to_csv(run_dir / "summary.csv", index=False, float_format="%.4g")
    endpoints(run_dir).to_csv(run_dir / "endpoints.csv", index=False, float_format="%.4g")
    return summary


def read_summary(run_dir: Path) -> pd.DataFrame:
    path = run_dir / "summary.csv"
    return pd.read_csv(path) if path.is_file() else summarise(run_dir)


def ratios(summary: pd.DataFrame) -> pd.DataFrame:
    """Each measured stage against the first measured one (the baseline) and its neighbour."""
    ok = summary[summary["status"] == "ok"].sort_values("order").reset_index(drop=True)
    if ok.empty:
        return ok
    base = ok.iloc[0]
    ok["speedup_vs_baseline"] = ok["rps"] / base["rps"]
    ok["p95_reduction_vs_baseline"] = base["p95_ms"] / ok["p95_ms"]
    ok["speedup_vs_previous"] = ok["rps"] / ok["rps"].shift(1)
    return ok
