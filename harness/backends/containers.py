"""Facts about a running container the harness needs on the host: its address on a network, the
host pid of its main process (for CPU accounting with psutil), and whether it still runs; and the
removal of the networks and volumes its containers held."""

import contextlib
import time
from collections.abc import Callable
from typing import Any

import docker.errors
from docker import DockerClient
from docker.models.containers import Container


def address(container: Container, network: str) -> str:
    container.reload()
    return str(container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"])


def host_pid(container: Container) -> int:
    return int(container.attrs["State"]["Pid"])


def current_pid(container: Container) -> int:
    """The container's main process as this host sees it now (a restarted container's is new; 0:
    not running)."""
    with contextlib.suppress(docker.errors.NotFound):
        container.reload()
    return host_pid(container)


def stopped(containers: dict[str, Container]) -> list[str]:
    """The names of the containers no longer created or running (a service that died)."""
    dead = []
    for name, container in containers.items():
        with contextlib.suppress(docker.errors.NotFound):
            container.reload()
        if container.status not in ("created", "running"):
            dead.append(name)
    return dead


def listed(engine: DockerClient, selector: dict[str, str]) -> list[Container]:
    """The containers matching `selector`, all states. The SDK's own list inspects each container
    after listing them and fails on one removed in between (a swarm task going as its service is
    removed): listed sparse, then each inspected, a vanished one left out."""
    found = []
    for sparse in engine.containers.list(all=True, filters=selector, sparse=True):
        with contextlib.suppress(docker.errors.NotFound):
            found.append(engine.containers.get(sparse.id))
    return found


def remove_released(listed: Callable[[], list[Any]], timeout: float = 30.0) -> list[str]:
    """Remove every network or volume `listed()` names, retrying those still in use: a container
    can be listed gone a moment before the engine lets go of what it held. The names removed."""
    removed: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        left = listed()
        for item in left:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                item.remove()
                removed.append(item.name)
        if not left or time.monotonic() > deadline:
            return removed
        time.sleep(0.5)
