"""The load: one weighted mix of the public API, the same for every stage.

Usable on its own: `locust -f harness/load/locustfile.py --host http://127.0.0.1:8000`.
Every request is written to LADDER_SAMPLES_FILE with its completion time, exact response time
and the edge's hop count, for percentiles finer than locust's own rounding; the harness keeps
those inside its measuring window. When every user of this process has signed in (or failed
to), the time goes to LADDER_READY_FILE: the harness opens the window a warm-up after that,
so the sign-in stampede never counts (at the baseline it lasts about a minute).

Two load models. Closed (default): every user sends its next request when its last one is
answered, so a slow server slows its own load. Open (LADDER_RATE > 0 req/s, `harness run-all
--rate`): one arrival schedule for the process — request i is due at start + i/rate — and the
users are a pool that serves it, as k6's constant-arrival-rate executor does: a free user claims
the next due request, sleeps until its time, sends it; the sample records that intended time, so
latency is measured from when the request should have started (wrt coordinated omission). The
rate climbs from 0 over LADDER_RAMP seconds (inside the warm-up; k6's ramping-arrival-rate), so
a stage that starts cold is not handed a backlog before its window opens. A
request claimed after its time (no user was free) is a late start, counted by the harness; one
not started within LADDER_MAX_LATE seconds of its time is dropped (k6's dropped_iterations) and
recorded as such, so an overloaded stage never builds a backlog older than that bound and its
window is served from its own schedule.
With several processes (`--processes N`, or `--master` and `--worker`s on other machines), the
master writes one samples.w<index>.csv and one ready.w<index> per worker, from what each worker
hands it over locust's own connection: the workers need no LADDER_* file of their own.
"""

import csv
import itertools
import os
import random
import time
from typing import Any

import gevent
from locust import FastHttpUser, events, task
from locust.env import Environment
from locust.runners import STATE_MISSING, LocalRunner, MasterRunner, WorkerRunner

from domain import seed
from domain.hops import HEADER as HOPS_HEADER
from harness.load.mix import Schedule, due_offset
from harness.load.profile import DROPPED, HAND_IN_SECONDS, REQUEST_TIMEOUT_SECONDS

SAMPLES_FILE = os.environ.get("LADDER_SAMPLES_FILE")
READY_FILE = os.environ.get("LADDER_READY_FILE")
SEED_USERS = int(os.environ.get("LADDER_SEED_USERS", str(seed.DEFAULT_SIZE.users)))
# "saas" (default): the weighted API mix; "ceiling": static JSON only, what the framework can
# serve on this budget with no database and no internal call
MIX = os.environ.get("LADDER_MIX", "saas")
# open model: requests per second this process offers (0: closed loop)
RATE = float(os.environ.get("LADDER_RATE", "0") or 0)
MAX_LATE_S = float(os.environ.get("LADDER_MAX_LATE", "5"))
# open model: seconds over which the offered rate climbs from 0 to RATE (inside the warm-up)
RAMP_S = float(os.environ.get("LADDER_RAMP", "0") or 0)

_user_numbers = itertools.count()
_samples: list[tuple[str, float, float, str, int, float | str]] = []


class Arrivals:
    """The open model's schedule: request i is due at `start + due_offset(i)` (i / rate once
    the ramp is over). Claiming is atomic under gevent (no switch inside `claim`), so each due
    request goes to exactly one user."""

    def __init__(self, rate: float, ramp: float) -> None:
        self.rate = rate
        self.ramp = ramp
        self.start: float | None = None  # set when every user has signed in
        self.slots = itertools.count()
        # one mix for the whole schedule: request i's action does not depend on which user sends it
        self.mix = Schedule(random.Random("arrivals"))

    def claim(self) -> tuple[float, str] | None:
        if self.start is None:
            return None
        return self.start + due_offset(next(self.slots), self.rate, self.ramp), self.mix.next()


_arrivals = Arrivals(RATE, RAMP_S) if RATE > 0 else None
_intended: dict[int, float] = {}  # greenlet id -> the intended start of the request it is sending


@events.request.add_listener
def _record(name: str, response_time: float, response: Any, exception: Any, **_: Any) -> None:
    if _recording:
        headers = getattr(response, "headers", None) or {}
        intended = _intended.get(id(gevent.getcurrent()), "")
        _samples.append((name, time.time(), response_time, headers.get(HOPS_HEADER, ""), int(exception is None),
                         intended))


def worker_copy(path: str, index: int) -> str:
    """Worker `index`'s copy of a per-process file: samples.csv -> samples.w<index>.csv."""
    stem, dot, ext = path.rpartition(".")
    return f"{stem}.w{index}.{ext}" if dot else f"{path}.w{index}"


# Several processes (`--processes N`, or `--master` and `--worker`s on other machines): each worker
# hands its sign-in time and its samples to the master over locust's own connection, and the
# master writes them where it was told (ready.w<i>, samples.w<i>.csv). A worker on another machine
# then needs no shared folder, and nothing it recorded stays behind on it.
READY_MESSAGE = "ladder_ready"  # worker -> master: {index, at}
HAND_IN_MESSAGE = "ladder_hand_in"  # master -> workers: stop the users, send what you recorded
SAMPLES_MESSAGE = "ladder_samples"  # worker -> master: {index, rows}
SAMPLES_HEADER = ["name", "completed_at", "response_time_ms", "hops", "ok", "intended_at"]

_environment: Environment | None = None
# a worker records whatever it was told: the master decides where the samples go
_recording = bool(SAMPLES_FILE)
_handed_in: set[str] = set()  # on the master: the workers whose samples it wrote
_collected = False


def _write_rows(path: str, rows: list[Any]) -> None:
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(SAMPLES_HEADER)
        writer.writerows(rows)


def _master_writes_ready(environment: Environment, msg: Any, **_: Any) -> None:
    if READY_FILE:
        with open(worker_copy(READY_FILE, msg.data["index"]), "w") as out:
            out.write(repr(msg.data["at"]))


def _master_writes_samples(environment: Environment, msg: Any, **_: Any) -> None:
    if SAMPLES_FILE:
        _write_rows(worker_copy(SAMPLES_FILE, msg.data["index"]), msg.data["rows"])
    _handed_in.add(msg.node_id)


def _worker_hands_in(environment: Environment, msg: Any, **_: Any) -> None:
    runner = environment.runner
    assert isinstance(runner, WorkerRunner)
    runner.stop()  # the users first: the rows then hold every request locust's stats count
    runner.send_message(SAMPLES_MESSAGE, {"index": runner.worker_index, "rows": _samples})


@events.init.add_listener
def _set_up(environment: Environment, **_: Any) -> None:
    global _environment, _recording
    _environment = environment
    environment.events.spawning_complete.add_listener(  # type: ignore[no-untyped-call]
        lambda **__: _sign_in.spawned(environment))
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.register_message(READY_MESSAGE, _master_writes_ready)
        runner.register_message(SAMPLES_MESSAGE, _master_writes_samples)
    elif isinstance(runner, WorkerRunner):
        _recording = True
        runner.register_message(HAND_IN_MESSAGE, _worker_hands_in)


# On the master, once, before it tells its workers to quit: on `test_stopping` when the run time
# ends (locust then quits the workers before `quitting` fires), on `quitting` when it is stopped
# by a signal (the harness's SIGTERM) or had stopped the test before.
@events.quitting.add_listener
@events.test_stopping.add_listener
def _collect_from_workers(environment: Environment, **_: Any) -> None:
    """Every connected worker's samples, written as they arrive (_master_writes_samples)."""
    global _collected
    runner = environment.runner
    if not isinstance(runner, MasterRunner) or not SAMPLES_FILE or _collected:
        return
    _collected = True
    workers = {client.id for client in runner.clients.all if client.state != STATE_MISSING}
    runner.send_message(HAND_IN_MESSAGE)
    deadline = time.monotonic() + HAND_IN_SECONDS
    while not workers <= _handed_in and time.monotonic() < deadline:
        gevent.sleep(0.05)


# A single process writes its own samples on `quit`, not `quitting`: locust fires `quitting`
# before it stops the users, so a request completing in between would be in its stats
# (requests_sent) and in no samples file.
@events.quit.add_listener
def _write_samples(**_: Any) -> None:
    if SAMPLES_FILE and _environment is not None and type(_environment.runner) is LocalRunner:
        _write_rows(SAMPLES_FILE, _samples)


class SignIn:
    """Counts this process's users through on_start; says when all of them are through."""

    def __init__(self) -> None:
        self.done = 0
        self.expected: int | None = None  # known once spawning completes
        self.environment: Environment | None = None
        self.told = False

    def user_done(self) -> None:
        self.done += 1
        self.maybe_ready()

    def spawned(self, environment: Environment) -> None:
        # on a worker the event carries every worker's total; its own runner knows its share
        self.environment = environment
        self.expected = environment.runner.user_count if environment.runner else None
        self.maybe_ready()

    def maybe_ready(self) -> None:
        if self.told or self.expected is None or self.done < self.expected or self.environment is None:
            return
        self.told = True
        now = time.time()
        if _arrivals is not None:
            _arrivals.start = now  # the schedule starts when every user can serve it
        runner = self.environment.runner
        if isinstance(runner, WorkerRunner):
            runner.send_message(READY_MESSAGE, {"index": runner.worker_index, "at": now})
        elif READY_FILE and not isinstance(runner, MasterRunner):
            with open(READY_FILE, "w") as out:
                out.write(repr(now))


_sign_in = SignIn()


class SaasUser(FastHttpUser):
    """A signed-in user: mostly reads, a few exports, the occasional new login."""

    abstract = MIX != "saas"
    # set here, not left to locust's default: the report calls a p95 at this value a floor
    network_timeout = REQUEST_TIMEOUT_SECONDS

    def on_start(self) -> None:
        # deterministic user choice; workers draw from their own sequences
        worker = getattr(self.environment.runner, "worker_index", 0)
        number = next(_user_numbers)
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
            _sign_in.user_done()

    @task
    def next_action(self) -> None:
        if _arrivals is None:
            getattr(self, self.schedule.next())()
        else:
            open_model(self)

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
    network_timeout = REQUEST_TIMEOUT_SECONDS

    def on_start(self) -> None:
        _sign_in.user_done()  # nothing to sign in to

    @task
    def next_action(self) -> None:
        if _arrivals is None:
            self.healthz()
        else:
            open_model(self, action="healthz")

    def healthz(self) -> None:
        self.client.get("/healthz")


def open_model(user: FastHttpUser, action: str | None = None) -> None:
    """Claim the next due request, wait for its time, send it with its intended start recorded."""
    assert _arrivals is not None
    claimed = _arrivals.claim()
    if claimed is None:  # the schedule has not started: users are still signing in
        gevent.sleep(0.05)
        return
    due, mixed = claimed
    while time.time() - due > MAX_LATE_S:  # no user was free in time: dropped, counted, never sent
        _samples.append((DROPPED, time.time(), 0.0, "", 0, due))
        due, mixed = _arrivals.claim() or (due, mixed)
    if (wait := due - time.time()) > 0:
        gevent.sleep(wait)
    me = id(gevent.getcurrent())
    _intended[me] = due
    try:
        getattr(user, action or mixed)()
    finally:
        del _intended[me]
