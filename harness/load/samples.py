"""The per-request samples the locustfile writes (samples.csv, one samples.w<i>.csv per worker),
read back: cut to a measuring window, and the window's throughput and exact percentiles."""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.run_folder import read_json


def load_samples(stage_dir: Path, window_only: bool = True) -> pd.DataFrame:
    """Every request completed in the measuring window of measurement.json (all of them where
    there is none): samples.csv, or one samples.w<i>.csv per locust worker. Locust records from
    its launch; sign-in and warm-up are cut here."""
    files = sorted(stage_dir.glob("samples*.csv"))
    if not files:
        raise FileNotFoundError(stage_dir / "samples.csv")
    samples = pd.concat([pd.read_csv(f, dtype={"name": str}) for f in files], ignore_index=True)
    samples["hops"] = pd.to_numeric(samples["hops"], errors="coerce")
    if window_only and (stage_dir / "measurement.json").is_file():
        m = read_json(stage_dir / "measurement.json")
        if m.get("rate"):
            return from_due_time(samples[due_in_window(samples, m)])
        samples = samples[in_window(samples, m)].reset_index(drop=True)
    return samples


def from_due_time(samples: pd.DataFrame) -> pd.DataFrame:
    """Open model: `response_time_ms` from each request's due time (what its user waited, backlog
    included); the time from its actual send is kept as `service_time_ms`."""
    out = samples.reset_index(drop=True).copy()
    out["service_time_ms"] = out["response_time_ms"].astype(float)
    out["response_time_ms"] = (out["completed_at"].astype(float) - out["intended_at"].astype(float)) * 1000
    return out


def in_window(samples: pd.DataFrame, measurement: dict[str, Any]) -> "pd.Series[bool]":
    return samples["completed_at"].between(measurement["window_start"], measurement["window_end"])


def due_in_window(samples: pd.DataFrame, measurement: dict[str, Any]) -> "pd.Series[bool]":
    if "intended_at" not in samples:
        return pd.Series(False, index=samples.index)
    due: pd.Series = pd.to_numeric(samples["intended_at"], errors="coerce")
    return due.between(measurement["window_start"], measurement["window_end"])


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
