"""What every load the harness applies shares, whoever wrote its users: the samples, the sign-in
signal, the open model's schedule and the workers' hand-in. Imported by the ladder's locustfile
(harness/load/locustfile.py), the service's generated one (service_locustfile.py) and the shim
around a user's own (own_locustfile.py); it defines no user class of its own but the ceiling's.

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
from collections.abc import Callable, Mapping
from typing import Any

import gevent
from locust import FastHttpUser, User, events, task
from locust.env import Environment
from locust.runners import STATE_MISSING, LocalRunner, MasterRunner, WorkerRunner

from domain.hops import HEADER as HOPS_HEADER
from harness.load.mix import Schedule, due_offset
from harness.load.shape import DROPPED, HAND_IN_SECONDS, REQUEST_TIMEOUT_SECONDS

SAMPLES_FILE = os.environ.get("LADDER_SAMPLES_FILE")
READY_FILE = os.environ.get("LADDER_READY_FILE")
# "saas" (default): the ladder's weighted API mix; "service": a service file's requests;
# "ceiling": the edge's static answer only, what the framework can serve on this budget with no
# database and no internal call; "own": a user's own locustfile
MIX = os.environ.get("LADDER_MIX", "saas")
CEILING_PATH = os.environ.get("LADDER_CEILING_PATH", "/healthz")
# open model: requests per second this process offers (0: closed loop)
RATE = float(os.environ.get("LADDER_RATE", "0") or 0)
MAX_LATE_S = float(os.environ.get("LADDER_MAX_LATE", "5"))
# open model: seconds over which the offered rate climbs from 0 to RATE (inside the warm-up)
RAMP_S = float(os.environ.get("LADDER_RAMP", "0") or 0)

user_numbers = itertools.count()
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
        self.mix: Schedule | None = None

    def use_mix(self, weights: Mapping[str, int]) -> None:
        self.mix = Schedule(random.Random("arrivals"), weights)

    def claim(self) -> tuple[float, str] | None:
        if self.start is None:
            return None
        return self.start + due_offset(next(self.slots), self.rate, self.ramp), self.mix.next() if self.mix else ""


arrivals = Arrivals(RATE, RAMP_S) if RATE > 0 else None
_intended: dict[int, float] = {}  # greenlet id -> the intended start of the request it is sending


def use_mix(weights: Mapping[str, int]) -> None:
    """The actions and weights the open model's one schedule draws from (the locustfile's own)."""
    if arrivals is not None:
        arrivals.use_mix(weights)


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
        lambda **__: sign_in.spawned(environment))
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
        if arrivals is not None:
            arrivals.start = now  # the schedule starts when every user can serve it
        runner = self.environment.runner
        if isinstance(runner, WorkerRunner):
            runner.send_message(READY_MESSAGE, {"index": runner.worker_index, "at": now})
        elif READY_FILE and not isinstance(runner, MasterRunner):
            with open(READY_FILE, "w") as out:
                out.write(repr(now))


sign_in = SignIn()


def _claim_due() -> tuple[float, str]:
    """The next due request (waiting while users still sign in), past every one dropped for being
    too late: no user was free within MAX_LATE_S of its time; counted, never sent."""
    assert arrivals is not None
    while (claimed := arrivals.claim()) is None:
        gevent.sleep(0.05)
    due, action = claimed
    while time.time() - due > MAX_LATE_S:
        _samples.append((DROPPED, time.time(), 0.0, "", 0, due))
        due, action = arrivals.claim() or (due, action)
    return due, action


def open_model(act: Callable[[str], None]) -> None:
    """Claim the next due request, wait for its time, send it (`act(action)`) with its intended
    start recorded."""
    due, action = _claim_due()
    if (wait := due - time.time()) > 0:
        gevent.sleep(wait)
    me = id(gevent.getcurrent())
    _intended[me] = due
    try:
        act(action)
    finally:
        del _intended[me]


def adopt(user_class: type[User]) -> None:
    """A user class of someone else's locustfile under the harness's sign-in signal and open model:
    its on_start counts as signing in; in the open model each of its tasks is one arrival, its
    wait time the wait until that arrival is due (its requests carry that due time)."""
    original = user_class.on_start

    def on_start(self: User) -> None:
        try:
            original(self)
        finally:
            sign_in.user_done()
        if arrivals is not None:
            _wait_for_due()

    user_class.on_start = on_start  # type: ignore[method-assign]
    if arrivals is not None:
        user_class.wait_time = lambda self: _wait_for_due()


def _wait_for_due() -> float:
    """Sleep until the next due arrival, and mark it as the current greenlet's intended start."""
    due, _ = _claim_due()
    _intended[id(gevent.getcurrent())] = due
    if (wait := due - time.time()) > 0:
        gevent.sleep(wait)
    return 0.0


class CeilingUser(FastHttpUser):
    """The framework's ceiling: the edge's static answer (LADDER_CEILING_PATH), nothing else."""

    abstract = MIX != "ceiling"
    network_timeout = REQUEST_TIMEOUT_SECONDS

    def on_start(self) -> None:
        sign_in.user_done()  # nothing to sign in to

    @task
    def next_action(self) -> None:
        if arrivals is None:
            self.static()
        else:
            open_model(lambda _: self.static())

    def static(self) -> None:
        self.client.get(CEILING_PATH)
