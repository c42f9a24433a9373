"""A second Docker engine on this machine, as a second swarm node for the tests: its own network
namespace and address (a veth pair to this host), hostname, storage, containers and cgroup
parent, joined to this engine's swarm as a worker.

Why: the swarm backend places tiers on other nodes, and this machine has one engine. A second
dockerd in its own namespaces is a node Swarm treats as any other (tasks scheduled there, an
overlay between the two over VXLAN, ports published on its own address), while the harness under
test reaches it only as it would reach another machine: through the manager and the node's
published ports. It shares this machine's kernel and CPUs, so what it measures is the mechanism,
not a second machine's speed.

`ip netns exec` would remount /sys and hide the cgroup tree, so the engine starts under nsenter
in the namespace, and in a mount namespace of its own where /etc/resolv.conf points at nothing:
its attempts to pull (no registry here) fail at once instead of waiting on DNS.
"""

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from harness import processes

NETNS = "ladder-test-node"
HOST_SIDE, NODE_SIDE = "ladder-n0", "ladder-n1"
HOST_ADDRESS, NODE_ADDRESS = "10.77.0.1", "10.77.0.2"
HOSTNAME = "ladder-node-2"
CGROUP_PARENT = "/ladder-node-2"


@dataclass
class SecondEngine:
    client: docker.DockerClient
    socket: str
    address: str = NODE_ADDRESS
    hostname: str = HOSTNAME

    def load(self, images: list[str]) -> None:
        """The images, as the README's recipe loads them on a node with no registry."""
        save = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE)
        subprocess.run(["docker", "-H", f"unix://{self.socket}", "load", "-q"], stdin=save.stdout, check=True,
                       capture_output=True)
        assert save.wait() == 0


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextlib.contextmanager
def second_engine(workdir: Path) -> Iterator[SecondEngine]:
    """The engine up in its namespace until the block ends; then stopped, and its namespace, link
    and files removed."""
    sock = workdir / "docker.sock"
    resolv = workdir / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\n")
    config = workdir / "daemon.json"
    config.write_text(json.dumps({
        "data-root": str(workdir / "data"), "exec-root": str(workdir / "exec"), "pidfile": str(workdir / "docker.pid"),
        "hosts": [f"unix://{sock}"], "storage-driver": "fuse-overlayfs", "bridge": "",
        "cgroup-parent": CGROUP_PARENT, "log-driver": "json-file"}))
    engine: subprocess.Popen[bytes] | None = None
    try:
        _ip("netns", "add", NETNS)
        _ip("link", "add", HOST_SIDE, "type", "veth", "peer", "name", NODE_SIDE)
        _ip("link", "set", NODE_SIDE, "netns", NETNS)
        _ip("addr", "add", f"{HOST_ADDRESS}/24", "dev", HOST_SIDE)
        _ip("link", "set", HOST_SIDE, "up")
        for args in (("addr", "add", f"{NODE_ADDRESS}/24", "dev", NODE_SIDE), ("link", "set", NODE_SIDE, "up"),
                     ("link", "set", "lo", "up")):
            _ip("netns", "exec", NETNS, "ip", *args)
        start = (f"hostname {HOSTNAME} && mount --bind {resolv} /etc/resolv.conf && "
                 f"exec nsenter --net=/var/run/netns/{NETNS} dockerd --config-file {config}")
        with open(workdir / "dockerd.log", "wb") as log:
            engine = subprocess.Popen(["unshare", "--mount", "--uts", "sh", "-c", start], stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while True:  # the client asks the engine's version as it is made: once the engine answers
            with contextlib.suppress(docker.errors.DockerException):
                client = docker.DockerClient(base_url=f"unix://{sock}")
                break
            assert engine.poll() is None, (workdir / "dockerd.log").read_text()[-2000:]
            assert time.monotonic() < deadline, (workdir / "dockerd.log").read_text()[-2000:]
            time.sleep(0.3)
        yield SecondEngine(client, str(sock))
    finally:
        if engine is not None:
            processes.terminate([engine], grace=60)
        subprocess.run(["ip", "link", "del", HOST_SIDE], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", NETNS], capture_output=True, check=False)
        subprocess.run(["rm", "-rf", str(workdir / "data"), str(workdir / "exec")], capture_output=True, check=False)
        # the engine's cgroup parent, empty once its containers are gone (rmdir removes only an empty one)
        for parent in Path("/sys/fs/cgroup").glob(f"*{CGROUP_PARENT}"):
            with contextlib.suppress(OSError):
                parent.rmdir()
