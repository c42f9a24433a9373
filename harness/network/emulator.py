"""A network between the tiers for one stage: the wire (harness.network.wire) routing every
connection between separate hosts of the stage, its probe, and what they measured in a window.

Every internal service and PostgreSQL is reached through a route of its own, so each connection
into it crosses the RTT: edge -> service, service -> service, service -> PostgreSQL. The load
generator reaches the edge directly, as before. The wire and the probe run on the load CPUs: the
wire is the network, not part of the server's budget, and is measured like the load generator.
"""

from __future__ import annotations

import contextlib
import csv
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness.cpu import pin
from harness.errors import OptionError, StageFailed, UserError
from harness.processes import terminate
from harness.run_folder import read_json

# Default RTT between the tiers: inside one cloud region, services and a managed database sit in
# the same zone (<= 0.5 ms) or across zones (< ~2 ms, Azure's stated bound); 1 ms is the middle
# of that range. The README cites the figures.
DEFAULT_RTT_MS = 1.0
# the wire held the RTT when the RTT it added (the probe's median through the delayed echo less
# through the undelayed one) is within this of the RTT asked for
TOLERANCE_SHARE = 0.10
TOLERANCE_MS = 0.2
# the wire is one Python process: above this share of its core it queues, like a saturated generator
SATURATED_CPU_PCT = 85.0
PROBE_ROUTE = "probe"
DIRECT_ROUTE = "probe-direct"  # the undelayed echo: the relay's own overhead
DATABASE_ROUTE = "postgres"
START_TIMEOUT_S = 10.0
LINKS = "edge → service, service → service, service → PostgreSQL; the load generator reaches the edge directly"
COUNTERS = ("connections", "turns", "chunks", "refused")
MODEL = "userspace relay: each chunk released at arrival + RTT/2 per direction; set-up held one RTT"
# The wire and its probe share the load CPUs with the generator (and, on the Docker path, the
# engine's own processes). A real network does not queue behind the client's CPU, so the wire
# should not queue behind locust for the load CPU (CI's docker run on a slow host read 1.21 ms
# added for 1 ms asked; most of that was the wire's own wake-up, see wire.MAX_LEAD_NS). Ten steps
# of niceness give the wire ~10x the generator's CPU weight, so it runs first when both are
# ready; it sleeps in epoll between releases, so it cannot starve anything. Needs root (or
# CAP_SYS_NICE); without it the wire keeps niceness 0 and the window record says so.
WIRE_NICENESS = -10


def tolerance_ms(rtt_ms: float) -> float:
    return max(TOLERANCE_SHARE * rtt_ms, TOLERANCE_MS)


@dataclass(frozen=True)
class NetworkPlan:
    """The network of a run: an RTT between the tiers, or loopback (0)."""

    rtt_ms: float = DEFAULT_RTT_MS

    def __post_init__(self) -> None:
        if not 0 <= self.rtt_ms <= 1000:
            raise OptionError(f"{{0}} must be between 0 and 1000 ms, got {self.rtt_ms:g}", "rtt_ms")

    @property
    def on(self) -> bool:
        return self.rtt_ms > 0

    def as_record(self) -> dict[str, Any]:
        if not self.on:
            return {"rtt_ms": 0.0, "links": "loopback: every tier on one host"}
        return {"rtt_ms": self.rtt_ms, "links": LINKS, "model": MODEL,
                "tolerance_ms": round(tolerance_ms(self.rtt_ms), 3)}


LOOPBACK = NetworkPlan(0.0)


@dataclass
class RunningWire:
    """A started wire, a host process or a container: its pid on this host, its ports, its probe."""

    rtt_ms: float
    pid: int
    stats_path: Path
    probe_path: Path
    ports: dict[str, int]
    host: str  # the wire's address as the services name it
    alive: Callable[[], bool]
    probe: subprocess.Popen[bytes] | None = None

    def stats(self) -> dict[str, Any]:
        return dict(read_json(self.stats_path))

    def niceness(self) -> int | None:
        """The wire's niceness now (WIRE_NICENESS when it could be raised)."""
        try:
            return os.getpriority(os.PRIO_PROCESS, self.pid)
        except ProcessLookupError:
            return None

    def url(self, route: str, original: str) -> str:
        return rerouted(original, self.host, self.ports[route])

    def dead(self) -> str | None:
        if not self.alive():
            return "the network emulator's wire exited"
        if self.probe is not None and self.probe.poll() is not None:
            return f"the network emulator's probe exited (code {self.probe.returncode})"
        return None


def rerouted(url: str, host: str, port: int) -> str:
    """`url` (http://… or postgresql://…) with its host and port replaced, credentials kept."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=(userinfo + "@" if userinfo else "") + f"{host}:{port}"))


def address_of(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise UserError(f"cannot route {url!r} through the network emulator: it names no host and port")
    return parts.hostname, parts.port


def wire_arguments(rtt_ms: float, targets: dict[str, tuple[str, int]], listen_host: str, stats_path: str,
                   max_seconds: float, ports: dict[str, int] | None = None) -> list[str]:
    """`python -m harness.network.wire`'s arguments: one route per target, plus the probe's echo,
    each on its port in `ports` (default 0: the kernel picks, the stats file says which)."""
    ports = ports or {}
    routes = [f"{name}={listen_host}:{ports.get(name, 0)}={host}:{port}" for name, (host, port) in targets.items()]
    routes.append(f"{PROBE_ROUTE}={listen_host}:{ports.get(PROBE_ROUTE, 0)}=echo")
    routes.append(f"{DIRECT_ROUTE}={listen_host}:{ports.get(DIRECT_ROUTE, 0)}=echo-direct")
    return ["-m", "harness.network.wire", "--rtt-ms", f"{rtt_ms:g}", "--stats", stats_path,
            "--max-seconds", f"{max_seconds:g}", *[a for r in routes for a in ("--route", r)]]


def wait_for_ports(stats_path: Path, alive: Callable[[], bool], log: Callable[[], str]) -> dict[str, int]:
    """The wire writes its stats file once every route listens; the file names their ports."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not stats_path.is_file():
        if not alive() or time.monotonic() > deadline:
            raise StageFailed("the network emulator did not start", {"wire": log()[-2000:]})
        time.sleep(0.02)
    return {name: int(r["port"]) for name, r in read_json(stats_path)["routes"].items()}


def raise_priority(pid: int) -> None:
    """Give a process of the wire's the network's priority on its CPUs (kept as is without the right to)."""
    if pid <= 0:  # 0 would be this process: the harness itself
        return
    with contextlib.suppress(PermissionError, ProcessLookupError):
        os.setpriority(os.PRIO_PROCESS, pid, WIRE_NICENESS)


def start_probe(host: str, ports: dict[str, int], cpus: frozenset[int], out_dir: Path,
                max_seconds: float) -> subprocess.Popen[bytes]:
    with open(out_dir / "probe.log", "wb") as log:
        probe = subprocess.Popen(
            [sys.executable, "-m", "harness.network.probe", "--host", host, "--port", str(ports[PROBE_ROUTE]),
             "--direct-port", str(ports[DIRECT_ROUTE]),
             "--out", str(out_dir / "probe.csv"), "--max-seconds", f"{max_seconds:g}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=lambda: pin(cpus), start_new_session=True)
    raise_priority(probe.pid)  # it measures the wire, not the scheduler's queue behind the generator
    return probe


@contextlib.contextmanager
def running_wire(rtt_ms: float, targets: dict[str, tuple[str, int]], cpus: frozenset[int], out_dir: Path,
                 listen_host: str = "127.0.0.1", max_seconds: float = 6 * 3600) -> Iterator[RunningWire]:
    """The wire as a host process pinned to `cpus`, with one route per target (plus the probe's
    echo) on ports the kernel picks, and its probe; both stopped on the way out."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stats_path = out_dir / "wire.json"
    stats_path.unlink(missing_ok=True)
    argv = [sys.executable, *wire_arguments(rtt_ms, targets, listen_host, str(stats_path), max_seconds)]
    with open(out_dir / "wire.log", "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   preexec_fn=lambda: pin(cpus), start_new_session=True)
    raise_priority(process.pid)
    probe = None
    try:
        ports = wait_for_ports(stats_path, lambda: process.poll() is None,
                               lambda: (out_dir / "wire.log").read_text(errors="replace"))
        probe = start_probe(listen_host, ports, cpus, out_dir, max_seconds)
        yield RunningWire(rtt_ms, process.pid, stats_path, out_dir / "probe.csv", ports, listen_host,
                          lambda: process.poll() is None, probe)
    finally:
        terminate([p for p in (probe, process) if p is not None], grace=5)


def probe_samples(path: Path, window: tuple[float, float]) -> dict[str, list[float]]:
    """The probe's samples (ms) by kind, inside the window, from its file."""
    if not path.is_file():
        return probe_rows([], window)
    with open(path, newline="") as lines:
        return probe_rows(lines, window)


def probe_rows(lines: Iterable[str], window: tuple[float, float]) -> dict[str, list[float]]:
    """The probe's samples (ms) by kind, inside the window, from its output's lines."""
    found: dict[str, list[float]] = {"data": [], "direct": [], "connect": []}
    for row in csv.reader(lines):
        if len(row) == 3 and window[0] <= float(row[0]) <= window[1]:
            found.setdefault(row[1], []).append(float(row[2]) / 1000)
    return found


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def probe_figures(samples: dict[str, list[float]], direct_as: str) -> dict[str, Any]:
    """The probe's figures (ms) in a window: the median exchange through the echo under test
    (`measured_rtt_ms`, its p99) less the one through the undelayed reference (`added_rtt_ms`; the
    reference's own median under `direct_as`), and a new connection's set-up."""
    data, direct, connect = samples.get("data", []), samples.get("direct", []), samples.get("connect", [])
    return {
        "probe_samples": len(data),
        "added_rtt_ms": round(median(data) - median(direct), 4) if data and direct else None,
        direct_as: round(median(direct), 4) if direct else None,
        "measured_rtt_ms": round(median(data), 4) if data else None,
        "measured_rtt_p99_ms": round(_quantile(data, 0.99), 4) if data else None,
        "measured_setup_ms": round(median(connect), 4) if connect else None,
    }


def window_record(rtt_ms: float, before: dict[str, Any], after: dict[str, Any], cpu_seconds: float,
                  samples: dict[str, list[float]], window_seconds: float) -> dict[str, Any]:
    """What the wire did in one window: the RTT it added and the one a client saw, against the RTT asked for, the wire's
    CPU, how late its releases were, and the round trips crossed per route (connections + turns).
    `held` is False when the RTT was off by more than the tolerance or the wire was saturated."""
    cpu_pct = 100 * cpu_seconds / window_seconds if window_seconds > 0 else 0.0
    releases = after["releases"] - before["releases"]
    record: dict[str, Any] = {
        "rtt_ms": rtt_ms, "tolerance_ms": round(tolerance_ms(rtt_ms), 3),
        # what the wire added: through the delayed echo, less through the undelayed one (the probe's
        # own exchange and the relay's two loopback hops, ~0.1 ms, which any client also pays); a new
        # connection's connect + first exchange: two round trips asked for
        **probe_figures(samples, direct_as="relay_overhead_ms"),
        "cpu_pct": round(cpu_pct, 2),
        "releases": releases,
        # signed: the wire's mean error at release, with the wake-up cost it learnt to lead by
        "late_mean_us": round((after["late_sum_us"] - before["late_sum_us"]) / releases, 1) if releases else 0.0,
        "lead_us": after.get("lead_us"),
        "early": after.get("early", 0) - before.get("early", 0),
        "routes": {name: {k: route[k] - before["routes"][name][k] for k in COUNTERS}
                   for name, route in after["routes"].items() if name not in (PROBE_ROUTE, DIRECT_ROUTE)},
    }
    added = record["added_rtt_ms"]
    problems = []
    if added is None:
        problems.append("the probe measured nothing in the window")
    elif abs(added - rtt_ms) > tolerance_ms(rtt_ms):
        problems.append(f"added RTT {added:.3f} ms for {rtt_ms:g} ms asked (tolerance {tolerance_ms(rtt_ms):.2f} ms; "
                        f"{record['measured_rtt_ms']:.3f} ms through the wire)")
    if cpu_pct > SATURATED_CPU_PCT:
        problems.append(f"the wire used {cpu_pct:.0f} % of its core (saturated above {SATURATED_CPU_PCT:g} %)")
    record["held"] = not problems
    record["problems"] = problems
    return record


def round_trips(record: dict[str, Any]) -> dict[str, int]:
    """Round trips crossed in a window: into the database, and into the other services."""
    db = hops = 0
    for name, route in record.get("routes", {}).items():
        crossed = int(route["connections"]) + int(route["turns"])
        if name == DATABASE_ROUTE:
            db += crossed
        else:
            hops += crossed
    return {"db": db, "services": hops}
