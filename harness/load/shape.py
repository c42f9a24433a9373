"""The load profile and the locust subprocess that applies it.

Locust runs as a separate process: importing it monkey-patches the importing process
with gevent, and it must run on the load CPUs, away from the server budget.
"""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.cpu import pin
from harness.errors import OptionError
from harness.processes import terminate

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
# locust's request timeout (the locustfile's network_timeout): a request that waits this long
# fails, so no percentile can read higher than this
REQUEST_TIMEOUT_SECONDS = 60.0
# the longest the harness waits for every user to sign in: past locust's request timeout, so a
# stage whose sign-ins time out still gets a window (and shows the failures)
SIGN_IN_TIMEOUT_SECONDS = 90.0
# open model: after the window, requests due inside it get this long to be answered; those still
# unanswered then are counted as such (their latency is at least this)
DRAIN_SECONDS = 10.0
# open model: a request not started this long after its due time is dropped (no user of the pool
# was free) and counted as a failure; the backlog never grows older than this
MAX_LATE_SECONDS = 5.0
# open model: the offered rate climbs from 0 over this share of the warm-up, then holds; the
# rest of the warm-up lets the stage settle at the full rate before the window opens
RAMP_SHARE_OF_WARMUP = 0.75
DROPPED = "(dropped)"  # its sample name (harness/load/locustfile.py)
WINDOW_RULE = "opens a warm-up after every user signed in"
SCHEDULE_RULE = "per-user shuffled rounds of the exact mix"
OPEN_SCHEDULE_RULE = ("one arrival schedule at the offered rate (ramped from 0 over 3/4 of the warm-up), served by a "
                      "pool of users; latency from the due time")


@dataclass(frozen=True)
class LoadShape:
    users: int = 150
    warmup: float = 10.0
    # 90 s, not 40: on the reference VM the budget CPU's own speed (harness.measure.host_speed) wanders
    # on a scale of seconds to a minute. In a 10-minute trace of an idle pinned vCPU, the mean
    # speed of consecutive 40 s windows varied by 5.5 % (CV), of 60 s windows 3.4 %, of 90 s
    # windows 2.3 %; a stage's throughput follows it, so a 40 s window alone used up the
    # ladder's 5 % repeat budget before the code had any say.
    duration: float = 90.0
    # whose users: "saas" (the ladder's), "service" (a service file's requests), "own" (a service's own
    # locustfile), "ceiling" (the edge's static answer); harness/load/recorder.py
    mix: str = "saas"
    # locust processes (`--processes`): one master and N workers when above 1; one core per
    # process at most, or the generator measures its own contention
    processes: int = 1
    # open model: requests per second offered whatever the responses (0: closed loop, `users`
    # users without think time); `users` is then the pool that serves the schedule
    rate: float = 0.0

    def __post_init__(self) -> None:
        if self.users < 1:
            raise OptionError(f"{{0}} must be at least 1, got {self.users}", "users")
        if self.processes < 1:
            raise OptionError(f"{{0}} must be at least 1, got {self.processes}", "load_processes")
        if not self.duration > 0:
            raise OptionError(f"{{0}} must be positive, got {self.duration}", "duration")
        if self.warmup < 0:
            raise OptionError(f"{{0}} must not be negative, got {self.warmup}", "warmup")
        if self.rate < 0:
            raise OptionError(f"{{0}} must not be negative, got {self.rate:g}", "rate")

    def as_record(self) -> dict[str, float | str]:
        # how the load is applied, not only how much: `harness compare` names a difference here
        if self.rate:
            return {**asdict(self), "model": "open", "window": WINDOW_RULE, "schedule": OPEN_SCHEDULE_RULE}
        return {**asdict(self), "model": "closed", "window": WINDOW_RULE, "schedule": SCHEDULE_RULE}


def drain_seconds(shape: LoadShape) -> float:
    """How long requests due in an open-model window get to be answered after it: DRAIN_SECONDS,
    or the window's length when that is shorter (a quick window is not held up longer than itself)."""
    return min(DRAIN_SECONDS, shape.duration)


DEFAULT_SHAPE = LoadShape()
# --quick checks that every part works, not what a stage can do: a second of warm-up after sign-in,
# four measured (the integration suite's verdicts and mechanism figures hold at it)
QUICK_SHAPE = LoadShape(users=20, warmup=1.0, duration=4.0)


# how long a master waits, once asked, for every worker's samples (harness/load/locustfile.py)
HAND_IN_SECONDS = 60.0
# how long a master waits for its workers to connect before it gives up (and the stage fails)
EXPECT_WORKERS_SECONDS = 120


@dataclass
class LocustRun:
    """Locust as the harness started it: a process on this host (alone, or forking its workers),
    or a master here whose workers run elsewhere (`worker_pids`: those this host sees, for its
    sampler; `workers_cpu`: all of theirs, for the generator's CPU; `release`: what removes them
    once the master has ended)."""
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    worker_pids: Callable[[], list[int]] = list
    # the CPU seconds so far of every worker started elsewhere, read where each runs (None: all here)
    workers_cpu: Callable[[], float] | None = None
    release: Callable[[], None] = field(default=lambda: None)

    def pids(self) -> list[int]:
        """The generator's processes on this host: the master (with any forked workers) and the
        workers that run elsewhere but on this host."""
        return [self.process.pid, *self.worker_pids()]

    def stop(self) -> None:
        """SIGTERM: locust's graceful shutdown, which collects the workers' samples and writes
        them with its stats; then the workers that run elsewhere go."""
        try:
            terminate([self.process], grace=10 + HAND_IN_SECONDS)
        finally:
            self.release()

    def sent(self) -> int | None:
        """Requests locust itself counted (its `--json` stats, after stop)."""
        return requests_sent(self.stdout)


def requests_sent(stats_json: Path) -> int | None:
    """The requests locust counted in its own stats, `--json` on its stdout: with `--processes`
    the forked workers print an empty list each and the master the aggregate of all workers'
    reports. A count independent of the samples files, so a worker whose samples did not reach
    the run folder shows as samples lost. None when locust printed no stats (it failed)."""
    if not stats_json.is_file():
        return None
    decoder, rest, counted = json.JSONDecoder(), stats_json.read_text().strip(), None
    while rest:
        try:
            doc, end = decoder.raw_decode(rest)
        except json.JSONDecodeError:
            return None  # cut short: no trustworthy count
        if doc:
            counted = (counted or 0) + sum(int(entry["num_requests"]) for entry in doc)
        rest = rest[end:].lstrip()
    return counted


def ready_files(out_dir: Path, processes: int) -> list[Path]:
    """Where locust says every user has signed in: one file, or one per worker."""
    return [out_dir / "ready"] if processes == 1 else [out_dir / f"ready.w{i}" for i in range(processes)]


def worker_env(shape: LoadShape) -> dict[str, str]:
    """What every locust process that sends requests needs to know of the profile (the locustfile's
    LADDER_* variables), wherever it runs."""
    # each locust process runs its own schedule: together they offer the rate
    return {"LADDER_MIX": shape.mix, "LADDER_RATE": f"{shape.rate / shape.processes:g}",
            "LADDER_MAX_LATE": f"{MAX_LATE_SECONDS:g}", "LADDER_RAMP": f"{RAMP_SHARE_OF_WARMUP * shape.warmup:g}"}


def start_locust(host: str, shape: LoadShape, cpus: frozenset[int], out_dir: Path,
                 master: tuple[str, int] | None = None, locustfile: Path = LOCUSTFILE,
                 env: dict[str, str] | None = None) -> LocustRun:
    """Start headless locust. The harness stops it when its window closes; its run time is
    only the bound after which it stops by itself whatever happens to the harness.
    `master`: only a master, bound to that address and port (where its workers reach it, no
    wider), that waits for `shape.processes` workers started elsewhere (they learn `host` from
    it); else one process, or one forking its workers here (its master on loopback).
    `locustfile` and `env`: the users to run and what they read (a service's; default the ladder's)."""
    run_time = round(SIGN_IN_TIMEOUT_SECONDS + shape.warmup + shape.duration + DRAIN_SECONDS + 30)
    stdout, stderr = out_dir / "locust.json", out_dir / "locust.log"
    environment = {**os.environ, "LADDER_READY_FILE": str(out_dir / "ready"),
                   "LADDER_SAMPLES_FILE": str(out_dir / "samples.csv"), **worker_env(shape), **(env or {})}
    argv = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--host", host,
            "-u", str(shape.users), "-r", str(shape.users), "-t", f"{run_time}s",
            "--only-summary", "--json", "--exit-code-on-error", "0", "--loglevel", "WARNING"]
    if master is not None:
        argv += ["--master", "--master-bind-host", master[0], "--master-bind-port", str(master[1]),
                 "--expect-workers", str(shape.processes),
                 "--expect-workers-max-wait", str(EXPECT_WORKERS_SECONDS)]
    elif shape.processes > 1:
        argv += ["--processes", str(shape.processes), "--master-bind-host", "127.0.0.1"]  # forks its workers
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=environment,
                                   preexec_fn=lambda: pin(cpus), start_new_session=True)
    return LocustRun(process, stdout, stderr)
