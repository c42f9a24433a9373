"""The real network between a swarm stage's tiers, when no wire emulates one (`--rtt 0`).

Two services of the wire's image (harness/network/real.py says what they measure):
- the echo, placed as PostgreSQL is: the wire with one undelayed echo route, on the overlay;
- the probe, placed as the application tier is: the wire's probe exchanging with that echo by its
  service name, and with the same echo software on its own loopback for reference.
The probe writes its lines to its log, which the manager reads wherever the task runs, so nothing
has to be fetched from another machine; the timestamps are the probe's node's clock (keep the
nodes on NTP, as the load's workers need too). Both carry the run's labels: `harness cleanup`
removes them with the rest.
"""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
from docker.models.networks import Network
from docker.models.services import Service

from harness.backends.swarm_engine import NodeReaders, Placement, pin_task, run_service, running_task
from harness.network.emulator import probe_rows
from harness.network.real import real_record

ECHO_PORT = 7000
LOOPBACK_ECHO_PORT = 7001
# the probe outlives any stage it measures, and stops by itself if its service is left behind
PROBE_MAX_SECONDS = 6 * 3600


@dataclass
class TierProbe:
    probe: Service

    def record(self, window: tuple[float, float]) -> dict[str, Any]:
        """What the probe measured of the network between the tiers in the window."""
        lines = b"".join(self.probe.logs(stdout=True, stderr=False)).decode(errors="replace").splitlines()
        return real_record(probe_rows(lines, window), "the application tier's node to PostgreSQL's")

    def log(self) -> bytes:
        with contextlib.suppress(docker.errors.DockerException):
            return b"".join(self.probe.logs(stdout=True, stderr=True))
        return b""


@contextlib.contextmanager
def tier_probe(engine: docker.DockerClient, image: str, name: str, network: Network, labels: dict[str, str],
               cpus: frozenset[int], timeout: float, placement: Placement, readers: NodeReaders) -> Iterator[TierProbe]:
    """The echo where PostgreSQL runs and the probe where the application tier runs, both running
    (and pinned to `cpus` of their node) until the block ends."""
    echo_name = f"{name}-echo"
    echo_route = ["--rtt-ms", "0", "--route"]
    started: list[Service] = []
    try:
        # placed as the tiers are (swarm_engine.Placement); outside the budget, on the load CPUs
        started.append(run_service(engine, image, echo_name, network, labels, constraints=list(placement.db),
                                   command=["python", "-m", "harness.network.wire", *echo_route,
                                            f"probe=0.0.0.0:{ECHO_PORT}=echo-direct"]))
        local_echo = " ".join(["python", "-m", "harness.network.wire", *echo_route,
                               f"probe-direct=127.0.0.1:{LOOPBACK_ECHO_PORT}=echo-direct"])
        probe = " ".join(["python", "-m", "harness.network.probe", "--host", echo_name, "--port", str(ECHO_PORT),
                          "--direct-host", "127.0.0.1", "--direct-port", str(LOOPBACK_ECHO_PORT), "--out", "-",
                          "--wait", f"{timeout:g}", "--max-seconds", str(PROBE_MAX_SECONDS)])
        started.append(run_service(engine, image, name, network, labels, constraints=list(placement.app),
                                   command=["sh", "-c", f"{local_echo} & exec {probe}"]))
        for service in started:
            pin_task(running_task(engine, service, timeout), cpus, readers)
        yield TierProbe(started[-1])
    finally:
        for service in started:
            with contextlib.suppress(docker.errors.NotFound):
                service.remove()
