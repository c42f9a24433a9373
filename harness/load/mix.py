"""The request mix, as a schedule each simulated user follows.

locust's own `@task(weight)` draws every next task from the process-wide `random`, so the mix
inside a short window wanders: at the baseline (~450 requests per 40 s window) the dashboard's
share ran from 25.8 % to 31.2 % across three repeats, and the server's CPU per request (hence
req/s) tracked it. Here each user walks through shuffled rounds that hold every action exactly
as often as its weight, shuffled by the user's own seeded generator. Every round of 27 requests
is the nominal mix, and user n issues the same sequence in every repeat and every stage, so
repeats and stages differ by what the server does, not by what the dice asked for.

No locust import here: the tests use this module without gevent's monkey-patching.
"""

import math
import random
from collections.abc import Mapping

# action -> weight; the public API's usage in the case study's SaaS dashboard
SAAS_WEIGHTS: Mapping[str, int] = {
    "login": 1,
    "dashboard": 8,
    "me": 6,
    "report": 8,
    "export": 2,
    "export_status": 2,
}


class Schedule:
    """An endless sequence of actions: shuffled rounds, each the exact weighted mix."""

    def __init__(self, rng: random.Random, weights: Mapping[str, int] = SAAS_WEIGHTS) -> None:
        self.rng = rng
        self.round = [name for name, weight in weights.items() for _ in range(weight)]
        self.pending: list[str] = []

    def __len__(self) -> int:
        return len(self.round)

    def next(self) -> str:
        if not self.pending:
            self.pending = self.round.copy()
            self.rng.shuffle(self.pending)
        return self.pending.pop()


def due_offset(slot: int, rate: float, ramp: float = 0.0) -> float:
    """Seconds after the schedule's start at which request `slot` (0, 1, …) is due.

    Without a ramp, slot i is due at i / rate (k6's constant-arrival-rate). With one, the rate
    climbs linearly from 0 to `rate` over `ramp` seconds, then holds (k6's
    ramping-arrival-rate): the cumulative count is rate·t²/(2·ramp) during the ramp, so slot i
    is due at sqrt(2·ramp·i / rate) there, and at ramp + (i − rate·ramp/2) / rate after it.
    Why a ramp: a stage that starts cold (a gunicorn worker's first requests, pools still
    opening) builds a backlog if offered the full rate at once, and the window then measures
    that backlog draining, not the stage at the rate (s5-optimized: p95 932 ms over a window
    whose seconds after the first 15 read 41 ms).
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    in_ramp = rate * ramp / 2  # requests due while the rate climbs
    if slot < in_ramp:
        return math.sqrt(2 * ramp * slot / rate)
    return ramp + (slot - in_ramp) / rate
