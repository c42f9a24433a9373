"""The open model's figures: latency from the due time, late starts, unanswered requests."""

import pandas as pd
import pytest

from harness.errors import OptionError
from harness.load.shape import LoadShape
from harness.reporting.analysis import from_due_time, open_model_stats


def samples(rows: list[tuple[float, float, float]]) -> pd.DataFrame:
    """(due, sent, completed) per request, as the locustfile records them (times in s)."""
    return pd.DataFrame({"name": "/healthz", "completed_at": [c for _, _, c in rows],
                         "response_time_ms": [(c - s) * 1000 for _, s, c in rows], "hops": 0, "ok": 1,
                         "intended_at": [d for d, _, _ in rows]})


def test_latency_is_measured_from_the_due_time_not_from_the_send() -> None:
    # 10 requests/s for 1 s, each sent 0.5 s late and served in 10 ms
    rows = [(i / 10, i / 10 + 0.5, i / 10 + 0.51) for i in range(10)]
    stats = open_model_stats(from_due_time(samples(rows)), rate=10, window_seconds=1.0)
    assert stats["p50_ms"] == pytest.approx(510)  # the service alone took 10 ms
    assert stats["late_starts"] == 10 and stats["unanswered"] == 0
    assert not stats["rate_held"]  # every request late: the pool could not keep the schedule


def test_a_schedule_kept_is_held() -> None:
    rows = [(i / 10, i / 10 + 0.001, i / 10 + 0.021) for i in range(20)]
    stats = open_model_stats(from_due_time(samples(rows)), rate=10, window_seconds=2.0)
    assert stats["rate_held"] and stats["late_starts"] == 0
    assert stats["sent_rps"] == pytest.approx(10) and stats["p95_ms"] == pytest.approx(21, abs=0.5)


def test_unanswered_requests_are_failures_and_the_rate_not_held() -> None:
    rows = [(i / 10, i / 10, i / 10 + 0.02) for i in range(15)]  # 15 of the 20 due were answered
    stats = open_model_stats(from_due_time(samples(rows)), rate=10, window_seconds=2.0)
    assert stats["unanswered"] == 5 and stats["failures"] == 5
    assert stats["fail_rate"] == pytest.approx(0.25)
    assert not stats["rate_held"]


def test_a_negative_rate_is_a_user_error() -> None:
    with pytest.raises(OptionError, match="must not be negative") as refused:
        LoadShape(rate=-1)
    assert refused.value.options == ("rate",)
    assert LoadShape(rate=50).as_record()["model"] == "open"
    assert LoadShape().as_record()["model"] == "closed"


def test_dropped_requests_are_failures_never_latencies() -> None:
    rows = [(i / 10, i / 10, i / 10 + 0.02) for i in range(10)]
    frame = samples(rows)
    dropped = pd.DataFrame({"name": "(dropped)", "completed_at": [7.0] * 8, "response_time_ms": 0.0, "hops": "",
                            "ok": 0, "intended_at": [1.0 + i / 10 for i in range(8)]})
    stats = open_model_stats(from_due_time(pd.concat([frame, dropped], ignore_index=True)), rate=10,
                             window_seconds=2.0)
    assert stats["dropped"] == 8 and stats["unanswered"] == 2 and stats["failures"] == 10
    assert stats["requests"] == 10 and stats["p95_ms"] == pytest.approx(20, abs=0.5)  # the 6 s waits are not latencies
    assert not stats["rate_held"]
