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
