"""Choosing the load path from the two probes, and how the report shows it."""

import pytest

from harness.backends.load_path import BRIDGE, PUBLISHED, PathProbe, choose, path_load
from harness.errors import StageFailed
from harness.load.shape import LoadShape
from harness.reporting.report import load_path_lines


def _probe(path: str, rps: float | None) -> PathProbe:
    url = "http://172.18.0.3:8000" if path == BRIDGE else "http://127.0.0.1:49153"
    return PathProbe(path, url, reachable=False) if rps is None else PathProbe(path, url, True, rps, 40.0)


def test_a_published_port_that_caps_the_rate_loses_to_the_bridge() -> None:
    chosen, why = choose(_probe(BRIDGE, 2000), _probe(PUBLISHED, 1200))
    assert chosen == BRIDGE and "0.60×" in why


def test_a_tie_goes_to_the_bridge_which_adds_no_process_outside_the_budget() -> None:
    assert choose(_probe(BRIDGE, 1000), _probe(PUBLISHED, 1040))[0] == BRIDGE


def test_a_clearly_faster_published_port_is_chosen() -> None:
    chosen, why = choose(_probe(BRIDGE, 1000), _probe(PUBLISHED, 1300))
    assert chosen == PUBLISHED and "1.30×" in why


def test_a_host_that_cannot_reach_container_addresses_uses_the_published_port() -> None:
    chosen, why = choose(_probe(BRIDGE, None), _probe(PUBLISHED, 900))
    assert chosen == PUBLISHED and "cannot reach" in why


def test_an_edge_reachable_on_neither_path_fails() -> None:
    with pytest.raises(StageFailed, match="neither"):
        choose(_probe(BRIDGE, None), _probe(PUBLISHED, None))


def test_the_probe_keeps_the_users_and_shortens_the_window_to_static_json() -> None:
    probing = path_load(LoadShape(users=150, warmup=10, duration=40))
    assert (probing.users, probing.warmup, probing.duration, probing.mix) == (150, 0.5, 2.0, "ceiling")


def test_the_report_shows_both_paths_and_the_choice() -> None:
    record = {"chosen": BRIDGE, "why": "tie", "probe_stage": "s5-optimized", "probe_load": {"users": 150},
              "paths": {BRIDGE: _probe(BRIDGE, 2000).as_record(), PUBLISHED: _probe(PUBLISHED, None).as_record()}}
    text = "\n".join(load_path_lines(record))
    assert "Load path: **bridge** — tie." in text
    assert "| bridge | `http://172.18.0.3:8000` | 2,000 | 40.0 | 0 |" in text
    assert "| published | `http://127.0.0.1:49153` | unreachable" in text
    assert load_path_lines(None) == []
