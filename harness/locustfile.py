"""The load: one weighted mix of the public API, the same for every stage.

Usable on its own: `locust -f harness/locustfile.py --host http://127.0.0.1:8000`.
Under the harness, LADDER_WINDOW_START/END (epoch seconds) bound the measuring window:
locust's stats are reset when it opens (the warm-up is excluded), and every request that
completes inside it is written to LADDER_SAMPLES_FILE with its exact response time and
the edge's hop count, for percentiles finer than locust's own rounding. With several
processes (`--processes N`, or `--master` and `--worker`s on other machines), each worker
writes its own samples.w<index>.csv beside it and the master writes none.
"""

import csv
import itertools
import math
import os
import random
import time
from typing import Any

import gevent
from locust import FastHttpUser, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from domain import seed
from domain.hops import HEADER as HOPS_HEADER
from harness.mix import Schedule

WINDOW_START = float(os.environ.get("LADDER_WINDOW_START", "0"))
WINDOW_END = float(os.environ.get("LADDER_WINDOW_END", "inf"))
SAMPLES_FILE = os.environ.get("LADDER_SAMPLES_FILE")
SEED_USERS = int(os.environ.get("LADDER_SEED_USERS", str(seed.DEFAULT_SIZE.users)))
# "saas" (default): the weighted API mix; "ceiling": static JSON only, what the framework can
# serve on this budget with no database and no internal call
MIX = os.environ.get("LADDER_MIX", "saas")

_user_numbers = itertools.count()
_samples: list[tuple[str, float, float, str, int]] = []


@events.request.add_listener
def _record(name: str, response_time: float, response: Any, exception: Any, **_: Any) -> None:
    done = time.time()
    if SAMPLES_FILE and WINDOW_START <= done <= WINDOW_END:
        headers = getattr(response, "headers", None) or {}
        _samples.append((name, done, response_time, headers.get(HOPS_HEADER, ""), int(exception is None)))


@events.test_start.add_listener
def _reset_after_warmup(environment: Environment, **_: Any) -> None:
    if WINDOW_START and math.isfinite(WINDOW_START):
        gevent.spawn_later(max(0.0, WINDOW_START - time.time()), environment.stats.reset_all)


def samples_path(environment: Environment) -> str | None:
    """This process's samples file: none on a master, one per worker."""
    runner = environment.runner
    if not SAMPLES_FILE or isinstance(runner, MasterRunner):
        return None
    if isinstance(runner, WorkerRunner):
        stem, dot, ext = SAMPLES_FILE.rpartition(".")
        return f"{stem}.w{runner.worker_index}.{ext}" if dot else f"{SAMPLES_FILE}.w{runner.worker_index}"
    return SAMPLES_FILE


@events.quitting.add_listener
def _write_samples(environment: Environment, **_: Any) -> None:
    path = samples_path(environment)
    if not path:
        return
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["name", "completed_at", "response_time_ms", "hops", "ok"])
        writer.writerows(_samples)


class SaasUser(FastHttpUser):
    """A signed-in user: mostly reads, a few exports, the occasional new login."""

    abstract = MIX != "saas"

    def on_start(self) -> None:
        # deterministic user choice; workers draw from their own sequences
        worker = getattr(self.environment.runner, "worker_index", 0)
        number = next(_user_numbers)
        self.rng = random.Random(number if worker <= 0 else f"w{worker}:{number}")
        self.user = self.rng.randint(1, SEED_USERS)
        self.reports = list(seed.report_ids_for(self.user))
        self.exports: list[int] = []
        self.headers: dict[str, str] = {}
        # the mix as exact weighted rounds from the user's own generator (see harness/mix.py),
        # not locust's @task weights drawn from the shared `random`
        self.schedule = Schedule(self.rng)
        self.login()

    @task
    def next_action(self) -> None:
        getattr(self, self.schedule.next())()

    def login(self) -> None:
        body = {"email": seed.email_for(self.user), "password": seed.password_for(self.user)}
        with self.client.post("/api/login", json=body, catch_response=True) as r:
            if r.status_code == 200:
                self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def dashboard(self) -> None:
        self.client.get("/api/dashboard", headers=self.headers)

    def me(self) -> None:
        self.client.get("/api/me", headers=self.headers)

    def report(self) -> None:
        report = self.rng.choice(self.reports)
        self.client.get(f"/api/reports/{report}", headers=self.headers, name="/api/reports/[id]")

    def export(self) -> None:
        report = self.rng.choice(self.reports)
        with self.client.post(f"/api/reports/{report}/export", json={"format": "pdf"},
                              headers=self.headers, name="/api/reports/[id]/export",
                              catch_response=True) as r:
            if r.status_code == 202:
                self.exports.append(r.json()["id"])

    def export_status(self) -> None:
        if not self.exports:
            self.export()
            return
        export = self.rng.choice(self.exports[-10:])
        self.client.get(f"/api/exports/{export}", headers=self.headers, name="/api/exports/[id]")


class CeilingUser(FastHttpUser):
    """The framework's ceiling: the edge's static JSON health endpoint, nothing else."""

    abstract = MIX != "ceiling"

    @task
    def healthz(self) -> None:
        self.client.get("/healthz")
