"""Facts about a running container the harness needs on the host: its address on a network, the
host pid of its main process (for CPU accounting with psutil), and whether it still runs."""

import contextlib

import docker.errors
from docker.models.containers import Container


def address(container: Container, network: str) -> str:
    container.reload()
    return str(container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"])


def host_pid(container: Container) -> int:
    return int(container.attrs["State"]["Pid"])


def stopped(containers: dict[str, Container]) -> list[str]:
    """The names of the containers no longer created or running (a service that died)."""
    dead = []
    for name, container in containers.items():
        with contextlib.suppress(docker.errors.NotFound):
            container.reload()
        if container.status not in ("created", "running"):
            dead.append(name)
    return dead
