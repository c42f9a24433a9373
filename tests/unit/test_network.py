"""The network's pure parts: the plan, the window's verdict, the figures per request, the sweep's steps."""

import math

import pandas as pd
import pytest

from harness.errors import UserError
from harness.network.emulator import NetworkPlan, probe_rows, round_trips, tolerance_ms, window_record
from harness.network.real import real_record
from harness.network.wire import parse_route
from harness.reporting.analysis import network_figures
from harness.reporting.sweep_report import pays_from, step_table


def stats(releases: int, late_sum_us: float, routes: dict[str, tuple[int, int]]) -> dict:
    """A wire.json snapshot: route -> (connections, turns)."""
    return {"releases": releases, "late_sum_us": late_sum_us,
            "routes": {name: {"port": 1, "connections": c, "turns": t, "chunks": 2 * t, "refused": 0}
                       for name, (c, t) in routes.items()}}


BEFORE = stats(100, 3_000.0, {"postgres": (10, 100), "jobs": (5, 5), "probe": (1, 50), "probe-direct": (1, 50)})
AFTER = stats(1_100, 43_000.0, {"postgres": (30, 400), "jobs": (25, 25), "probe": (1, 950), "probe-direct": (1, 950)})
DIRECT = [0.08, 0.09, 0.10]  # the relay's own overhead, through the undelayed echo


def test_rtt_out_of_range_is_a_user_error() -> None:
    with pytest.raises(UserError, match="between 0 and 1000"):
        NetworkPlan(-0.5)
    assert not NetworkPlan(0).on and NetworkPlan(0.5).on


def test_tolerance_is_ten_percent_or_a_fifth_of_a_millisecond() -> None:
    assert tolerance_ms(0.5) == pytest.approx(0.2)
    assert tolerance_ms(5.0) == pytest.approx(0.5)


def test_a_window_within_tolerance_is_held_and_counts_round_trips() -> None:
    record = window_record(1.0, BEFORE, AFTER, cpu_seconds=3.0, window_seconds=30.0,
                           samples={"data": [1.10, 1.12, 1.15], "direct": DIRECT, "connect": [2.2]})
    assert record["held"] and record["problems"] == []
    assert record["measured_rtt_ms"] == pytest.approx(1.12)
    assert record["added_rtt_ms"] == pytest.approx(1.03)
    assert record["cpu_pct"] == pytest.approx(10.0)
    assert record["late_mean_us"] == pytest.approx(40.0)
    assert "probe" not in record["routes"] and "probe-direct" not in record["routes"]  # not the stage's traffic
    assert round_trips(record) == {"db": 20 + 300, "services": 20 + 20}


def test_a_wire_off_by_more_than_the_tolerance_is_not_held() -> None:
    record = window_record(1.0, BEFORE, AFTER, cpu_seconds=3.0, window_seconds=30.0,
                           samples={"data": [1.4, 1.5, 1.6], "direct": DIRECT})
    assert not record["held"]
    assert "added RTT 1.410 ms for 1 ms asked" in record["problems"][0]


def test_the_relays_own_overhead_is_not_counted_as_added_rtt() -> None:
    record = window_record(1.0, BEFORE, AFTER, cpu_seconds=3.0, window_seconds=30.0,
                           samples={"data": [1.25, 1.26, 1.27], "direct": [0.10, 0.11, 0.12]})
    assert record["held"] and record["added_rtt_ms"] == pytest.approx(1.15)


def test_a_saturated_wire_is_not_held_even_when_its_rtt_looks_right() -> None:
    record = window_record(1.0, BEFORE, AFTER, cpu_seconds=27.0, window_seconds=30.0,
                           samples={"data": [1.1], "direct": DIRECT})
    assert not record["held"]
    assert "90 % of its core" in record["problems"][0]


def test_no_probe_sample_is_not_held() -> None:
    record = window_record(2.0, BEFORE, AFTER, cpu_seconds=1.0, window_seconds=30.0, samples={})
    assert not record["held"]


def test_network_figures_per_request() -> None:
    record = window_record(2.0, BEFORE, AFTER, cpu_seconds=1.0, window_seconds=30.0,
                           samples={"data": [2.1], "direct": DIRECT})
    figures = network_figures(record, requests=40)
    assert figures["db_rtts_per_req"] == pytest.approx(320 / 40)
    assert figures["hop_rtts_per_req"] == pytest.approx(40 / 40)
    assert figures["wait_ms_per_req"] == pytest.approx((320 + 40) / 40 * 2.0)
    assert network_figures(None, 40) == {"rtt_ms": 0.0, "net_held": True}


def test_a_real_network_is_what_the_probe_measured_across_it_less_its_loopback() -> None:
    # the probe's lines as a swarm service logs them: time, kind, microseconds; one outside the window
    log = ["99.0,data,900.0", "100.5,data,250.0", "100.6,direct,60.0", "101.0,data,270.0",
           "101.1,direct,70.0", "101.2,connect,400.0", "not a sample", "", "103.0,data,5000.0"]
    record = real_record(probe_rows(log, (100.0, 102.0)), "the application tier's node to PostgreSQL's")
    # fails when the window is ignored (900 or 5,000 us counted), the loopback not subtracted, or
    # microseconds read as milliseconds
    assert record["measured_rtt_ms"] == pytest.approx(0.26) and record["added_rtt_ms"] == pytest.approx(0.195)
    assert record["held"] and not record["problems"] and record["rtt_ms"] == 0.0
    figures = network_figures(record, requests=40)
    # a real network's RTT lands in the wire's columns; never a `network` verdict, and no round trips
    # counted (only a wire counts them), so no wait per request is made up
    assert figures == {"rtt_ms": 0.0, "net_rtt_ms": pytest.approx(0.26), "net_added_ms": pytest.approx(0.195),
                       "net_held": True}
    empty = real_record(probe_rows([], (100.0, 102.0)), "")
    assert empty["measured_rtt_ms"] is None and empty["problems"]
    assert math.isnan(network_figures(empty, 40)["net_rtt_ms"])


def test_parse_route() -> None:
    route = parse_route("db=127.0.0.1:0=127.0.0.1:5432")
    assert (route.name, route.listen, route.target) == ("db", ("127.0.0.1", 0), ("127.0.0.1", 5432))
    assert parse_route("probe=127.0.0.1:9=echo").target is None
    with pytest.raises(SystemExit):
        parse_route("db=nowhere")


def sweep_row(stage: str, order: int, rtt: float, rps: float, held: bool = True) -> dict:
    return {"stage": stage, "order": order, "rtt_ms": rtt, "status": "ok", "rps": rps, "p95_ms": 1000 / rps,
            "cpu_s_per_1k": 20.0, "server_busy_pct": 90.0, "wait_ms_per_req": 10 * rtt, "net_held": held}


def test_a_step_pays_from_the_smallest_rtt_after_which_it_always_pays() -> None:
    rows = []
    for rtt, s1, s2 in ((0, 30, 27), (0.5, 25, 28), (1, 20, 36), (2, 12, 38), (5, 6, 37)):
        rows += [sweep_row("s1", 1, rtt, s1), sweep_row("s2", 2, rtt, s2)]
    steps = step_table(pd.DataFrame(rows))
    assert list(steps["rtt_ms"]) == [0, 0.5, 1, 2, 5]
    assert steps["rps_ratio"].iloc[0] == pytest.approx(0.9)
    assert pays_from(steps, "s2") == 0.5  # ×1.12 at 0.5 ms, and more from there on
    assert pays_from(steps, "s1") is None  # the first stage is no step


def test_a_step_that_stops_paying_or_whose_wire_did_not_hold_does_not_pay() -> None:
    rows = [sweep_row("s1", 1, 1, 20), sweep_row("s2", 2, 1, 36),
            sweep_row("s1", 1, 5, 6), sweep_row("s2", 2, 5, 37, held=False)]
    assert pays_from(step_table(pd.DataFrame(rows)), "s2") is None
    assert not math.isnan(step_table(pd.DataFrame(rows))["rps_ratio"].iloc[1])
