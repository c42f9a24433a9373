"""The ladder's load: one weighted mix of the public API, the same for every stage.

Usable on its own: `locust -f harness/load/locustfile.py --host http://127.0.0.1:8000`. The
samples, the sign-in signal, the open model and the workers' hand-in are harness/load/recorder.py's,
shared with every other load the harness applies; this file holds the ladder's users only.
"""

import os
import random

from locust import FastHttpUser, task

from domain import seed
from harness.load.mix import SAAS_WEIGHTS, Schedule
from harness.load.recorder import MIX, CeilingUser, arrivals, open_model, sign_in, use_mix, user_numbers
from harness.load.shape import REQUEST_TIMEOUT_SECONDS

SEED_USERS = int(os.environ.get("LADDER_SEED_USERS", str(seed.DEFAULT_SIZE.users)))
use_mix(SAAS_WEIGHTS)
__all__ = ["CeilingUser", "SaasUser"]  # locust takes every user class it finds here


class SaasUser(FastHttpUser):
    """A signed-in user: mostly reads, a few exports, the occasional new login."""

    abstract = MIX != "saas"
    # set here, not left to locust's default: the report calls a p95 at this value a floor
    network_timeout = REQUEST_TIMEOUT_SECONDS

    def on_start(self) -> None:
        # deterministic user choice; workers draw from their own sequences
        worker = getattr(self.environment.runner, "worker_index", 0)
        number = next(user_numbers)
        self.rng = random.Random(number if worker <= 0 else f"w{worker}:{number}")
        self.user = self.rng.randint(1, SEED_USERS)
        self.reports = list(seed.report_ids_for(self.user))
        self.exports: list[int] = []
        self.headers: dict[str, str] = {}
        # the mix as exact weighted rounds from the user's own generator (see harness/load/mix.py),
        # not locust's @task weights drawn from the shared `random`
        self.schedule = Schedule(self.rng)
        try:
            self.login()
        finally:
            sign_in.user_done()

    @task
    def next_action(self) -> None:
        if arrivals is None:
            getattr(self, self.schedule.next())()
        else:
            open_model(lambda action: getattr(self, action)())

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


