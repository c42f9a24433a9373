"""The wire in Docker: a container of its own on the stage's network, pinned to the load CPUs.

Inside its own network namespace the wire can listen on fixed ports (FIRST_PORT + i), so the
services are told where to reach each other before the wire knows their addresses: the services
start first, pointing at the wire's container name; the wire then starts with their bridge
addresses as targets. The probe runs on the host and reaches the wire over the bridge, as the
services do; the wire writes its stats into a folder of the stage's, mounted into the container.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import docker.errors
from docker import DockerClient
from docker.models.containers import Container

from harness.backends.containers import address, host_pid
from harness.cpu import format_cpus
from harness.network.emulator import (
    DIRECT_ROUTE,
    PROBE_ROUTE,
    RunningWire,
    raise_priority,
    start_probe,
    wait_for_ports,
    wire_arguments,
)
from harness.processes import terminate

FIRST_PORT = 20000
MOUNT = "/wire"


def planned_ports(routes: list[str]) -> dict[str, int]:
    """A fixed port per route, and the probe's two after them."""
    return {name: FIRST_PORT + i for i, name in enumerate([*routes, PROBE_ROUTE, DIRECT_ROUTE])}


@contextlib.contextmanager
def docker_wire(engine: DockerClient, network: str, name: str, image: str, rtt_ms: float,
                targets: dict[str, tuple[str, int]], ports: dict[str, int], cpus: frozenset[int], out_dir: Path,
                labels: dict[str, str], max_seconds: float = 6 * 3600,
                reach: Callable[[Container], str] | None = None) -> Iterator[RunningWire]:
    """The wire on `network`; the probe on this host reaches it at `reach(container)` (default: its
    address on `network` — a bridge is routable from its host, an overlay is not)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(out_dir, 0o777)  # the image's unprivileged user writes the stats here
    stats_path = out_dir / "wire.json"
    stats_path.unlink(missing_ok=True)
    command = ["python", *wire_arguments(rtt_ms, targets, "0.0.0.0", f"{MOUNT}/wire.json", max_seconds, ports)]
    container = engine.containers.run(image, command=command, name=name, hostname="wire", network=network,
                                      detach=True, labels=labels, cpuset_cpus=format_cpus(cpus),
                                      volumes={str(out_dir): {"bind": MOUNT, "mode": "rw"}})
    probe = None

    def alive() -> bool:
        with contextlib.suppress(docker.errors.NotFound):
            container.reload()
        return container.status in ("created", "running")

    def log() -> str:
        with contextlib.suppress(docker.errors.DockerException):
            return str(container.logs(tail=40).decode(errors="replace"))
        return ""

    try:
        wait_for_ports(stats_path, alive, log)
        container.reload()  # its pid on this host: the attributes run() returned may predate the start
        raise_priority(host_pid(container))  # from the host: the container needs no capability for it
        probe = start_probe(reach(container) if reach else address(container, network), ports, cpus, out_dir,
                            max_seconds)
        yield RunningWire(rtt_ms, host_pid(container), stats_path, out_dir / "probe.csv", ports, name, alive, probe)
    finally:
        if probe is not None:
            terminate([probe], grace=5)
        (out_dir / "wire.log").write_text(log())
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
