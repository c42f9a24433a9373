"""Two facts about a running container the harness needs on the host: its address on a network, and
the host pid of its main process (for CPU accounting with psutil)."""

from docker.models.containers import Container


def address(container: Container, network: str) -> str:
    container.reload()
    return str(container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"])


def host_pid(container: Container) -> int:
    return int(container.attrs["State"]["Pid"])
