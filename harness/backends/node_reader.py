"""Each swarm node's own reading of the CPU its tasks used, and its pinning of them to the budget's
CPUs: a small HTTP agent, run as a global service (one task per node) of the project's own image,
and the client the swarm backend asks.

Why a service of our own: the CPU a container used is only known to the node it runs on (its
cgroup's usage counter); the docker API the harness talks to is the manager's engine, which can
`stats` only its own containers, and Swarm has no API for a task's CPU. A reader on every node,
with the host's cgroup tree mounted read-only (no docker socket, no privilege), answers for the
containers the harness names — the harness knows each task's container and node from the manager
(`service.tasks()`). Its reply is the node's cumulative counters, so a window's CPU is the
difference of two readings, as for the processes the window reads on its own host.

Why it also pins: Swarm has no cpuset (only a quota), and the manager's engine cannot update a
container on another node. On this node the harness pins a task through the engine; on any other,
this agent writes the budget's CPUs into the task's cpuset cgroup, which is what `docker update
--cpuset-cpus` writes. It runs as root with the cgroup tree mounted read-write for that, and writes
only the cpusets of the container ids it is sent, which the harness takes from its run's tasks; it
lives as long as the run (a service of the run's, removed with it), since its port would let anyone
who reaches the node re-pin a container there.

Why hand-written: the standard library's HTTP server and one file read per container; no
exporter (cAdvisor, node-exporter) can be pulled here, and each would read far more than this.
The reader runs inside the wire's image, which carries no more than the standard library.

    python -m harness.backends.node_reader --port 20100 --cgroup-root /host/cgroup
"""

from __future__ import annotations

import argparse
import json
import socket
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

# where a container's CPU counter sits under the cgroup root: v1 (cpuacct, nanoseconds) and v2
# (cpu.stat's usage_usec), for docker's cgroupfs and systemd drivers
V1_COUNTERS = ("cpuacct/docker/{id}/cpuacct.usage", "cpu,cpuacct/docker/{id}/cpuacct.usage",
               "cpuacct/system.slice/docker-{id}.scope/cpuacct.usage",
               "cpu,cpuacct/system.slice/docker-{id}.scope/cpuacct.usage")
V2_COUNTERS = ("docker/{id}/cpu.stat", "system.slice/docker-{id}.scope/cpu.stat")
# a container's cpuset, v1 and v2
V1_CPUSETS = ("cpuset/docker/{id}/cpuset.cpus", "cpuset/system.slice/docker-{id}.scope/cpuset.cpus")
V2_CPUSETS = ("docker/{id}/cpuset.cpus", "system.slice/docker-{id}.scope/cpuset.cpus")
MOUNT = "/host/cgroup"


def _find(root: Path, patterns: tuple[str, ...], container_id: str) -> Path | None:
    """The container's file under one of the drivers' usual parents, else under any parent one
    level down (an engine started with its own `cgroup-parent`)."""
    for pattern in patterns:
        if (path := root / pattern.format(id=container_id)).is_file():
            return path
    for pattern in patterns:
        head, _, tail = pattern.partition("/docker/")
        if tail and (found := sorted(root.glob(f"{head}/*/{tail.format(id=container_id)}"))):
            return found[0]
    return None


def container_cpu_seconds(root: Path, container_id: str) -> float | None:
    """CPU seconds the container's cgroup has used since it started; None if not on this node."""
    if path := _find(root, V1_COUNTERS, container_id):
        return int(path.read_text()) / 1e9
    if path := _find(root, V2_COUNTERS, container_id):
        fields = dict(line.split() for line in path.read_text().splitlines() if line.strip())
        return int(fields["usage_usec"]) / 1e6
    return None


def pin_container(root: Path, container_id: str, cpus: str) -> bool:
    """Write `cpus` into the container's cpuset; False if it is not on this node."""
    path = _find(root, V1_CPUSETS, container_id) or _find(root, V2_CPUSETS, container_id)
    if path is None:
        return False
    path.write_text(cpus)
    return True


def read_node(address: str, port: int, container_ids: list[str], timeout: float = 5.0) -> dict[str, float | None]:
    """One node's reading of these containers (None: not found there)."""
    url = f"http://{address}:{port}/cpu?ids={','.join(container_ids)}"
    with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (our own reader)
        return dict(json.loads(answer.read())["cpu_seconds"])


def pin_on_node(address: str, port: int, container_ids: list[str], cpus: str, timeout: float = 5.0) -> list[str]:
    """Pin these containers on one node to `cpus`; the ids of those it did not find there."""
    request = urllib.request.Request(f"http://{address}:{port}/pin", method="POST",
                                     data=json.dumps({"ids": container_ids, "cpus": cpus}).encode())
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (our own reader)
        return list(json.loads(answer.read())["not_found"])


def _handler(root: Path) -> type[BaseHTTPRequestHandler]:
    class Reader(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the server's name for it)
            query = urlparse(self.path)
            if query.path != "/cpu":
                self.send_error(404)
                return
            ids = [i for i in parse_qs(query.query).get("ids", [""])[0].split(",") if i]
            self._reply({"node": socket.gethostname(), "cpu_seconds": {i: container_cpu_seconds(root, i) for i in ids}})

        def do_POST(self) -> None:  # noqa: N802 (the server's name for it)
            if self.path != "/pin":
                self.send_error(404)
                return
            asked = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
            try:
                missing = [i for i in asked["ids"] if not pin_container(root, i, str(asked["cpus"]))]
            except OSError as error:  # a CPU this node does not have, a read-only tree: the harness says so
                self.send_error(409, f"cannot pin to CPUs {asked['cpus']}: {error}")
                return
            self._reply({"node": socket.gethostname(), "not_found": missing})

        def _reply(self, answer: dict[str, object]) -> None:
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:  # one line per reading is noise in the task's log
            pass
    return Reader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cgroup-root", default=MOUNT)
    args = parser.parse_args()
    ThreadingHTTPServer(("0.0.0.0", args.port), _handler(Path(args.cgroup_root))).serve_forever()  # noqa: S104


if __name__ == "__main__":
    main()
