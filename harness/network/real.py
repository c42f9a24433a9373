"""The real network between the tiers, where they have one of their own and no wire emulates a
delay (a swarm stage at `--rtt 0`, whose tiers may run on separate machines): its RTT, measured by
the wire's probe (harness.network.probe) and reported in the wire's columns.

The probe runs where the application tier runs and times exchanges with two undelayed echoes:
one where PostgreSQL runs (`data`: a round trip across the network between the tiers, plus the
echo's and the probe's own turn) and one on the probe's own loopback (`direct`: those turns
alone). `measured_rtt_ms` is the first's median, as a client between the tiers sees it;
`added_rtt_ms` the difference, what the network adds. A real network is not asked to hold an RTT,
so it never makes a verdict `network`; the round trips a request crossed are counted only by a
wire, so they are unknown here.
"""

from __future__ import annotations

from typing import Any

from harness.network.emulator import probe_figures


def real_record(samples: dict[str, list[float]], where: str) -> dict[str, Any]:
    """What the probe measured of the real network in one window; `where` says between what."""
    figures = probe_figures(samples, direct_as="loopback_rtt_ms")
    return {
        "rtt_ms": 0.0, "real": where, **figures,
        "held": True,  # nothing was asked of it
        "problems": ([] if figures["added_rtt_ms"] is not None
                     else ["the probe between the tiers measured nothing in the window"]),
    }
