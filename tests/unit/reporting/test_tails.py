"""The report's tail section reads the run's own tables: which stages, and the evidence beside them."""

from pathlib import Path

import pandas as pd

from harness.kinds import kind_from_name
from harness.reporting.tails import tail_lines


def _row(stage: str, order: int, p50: float, p95: float, bound: str, **extra: object) -> dict[str, object]:
    return {"stage": stage, "kind": kind_from_name(stage).value, "order": order, "status": "ok",
            "rps": 10.0 * order + 1, "p50_ms": p50, "p95_ms": p95,
            "bound_by": bound, "server_busy_pct": 98.0, "db_idle_in_tx_mean": 6.5, **extra}


def test_a_saturated_stage_s_tail_is_set_against_the_same_stage_below_saturation_and_the_ceiling(
        tmp_path: Path) -> None:
    summary = pd.DataFrame([
        _row("s0-baseline", 0, 10_000, 60_000, "waiting"),  # a waiting stage's tail is its timeouts: not here
        _row("s5-optimized", 5, 1_000, 4_400, "budget"),
        _row("s5-optimized.ceiling", 1005, 30, 51, "generator"),
        _row("s5-optimized.open", 2005, 27, 61, "waiting", offered_rps=49.0, rate_held=True, server_busy_pct=64.0),
    ])
    pd.DataFrame([{"stage": "s5-optimized", "endpoint": "/api/dashboard", "p50_ms": 2000.0, "p95_ms": 6800.0},
                  {"stage": "s5-optimized", "endpoint": "/api/me", "p50_ms": 500.0, "p95_ms": 950.0}]
                 ).to_csv(tmp_path / "endpoints.csv", index=False)
    text = "\n".join(tail_lines(tmp_path, summary))
    assert "**s5-optimized**: p95 4.4× p50" in text and "s0-baseline" not in text
    assert "`/api/dashboard` 3.4× (p50 2,000 ms)" in text and "p50 is 4.0× the fastest's" in text
    assert "at the same traffic (49 req/s, budget 64 % busy) 2.3×" in text
    assert "static JSON: p95 1.7× p50" in text and "6.5 PostgreSQL sessions idle" in text


def test_no_section_when_no_stage_has_a_heavy_tail(tmp_path: Path) -> None:
    summary = pd.DataFrame([_row("s4-queries", 4, 100, 200, "budget"), _row("s5-optimized", 5, 90, 180, "budget")])
    assert tail_lines(tmp_path, summary) == []
