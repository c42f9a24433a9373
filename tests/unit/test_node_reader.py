"""The swarm's node agent: it finds a container's CPU counter and cpuset under the engine's own
parent, and answers only its run — over a real socket, against a fake cgroup tree that must come
out of every refused request unchanged byte for byte."""

import hashlib
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.backends.node_reader import Agent, Layout, handler, pin_on_node, read_node

OWN = "a" * 64  # the agent's own container
OURS = "b9b7ef36ede4aeeaa09d4b06c6810b69b037f2fcaa496bcf49662484c54424e0"  # a task of the run
BEFORE = "c" * 64  # a container that ran before the run (another run's, a node service)
KEY = "k" * 43
V1_OWN = f"4:cpuset:/docker/{OWN}\n3:cpuacct:/docker/{OWN}\n2:cpu:/docker/{OWN}\n0::/\n"


def _cgroup(root: Path, relative: str, text: str) -> None:
    (root / relative).parent.mkdir(parents=True, exist_ok=True)
    (root / relative).write_text(text)


def _v1_tree(root: Path, parent: str = "docker") -> None:
    """The root's and a host service's cpusets, the engine's parent with the agent's container and
    one that predates the run."""
    _cgroup(root, "cpuset/cpuset.cpus", "0-1\n")
    _cgroup(root, "cpuset/system.slice/cpuset.cpus", "0-1\n")
    _cgroup(root, f"cpuset/{parent}/cpuset.cpus", "0-1\n")
    for container in (OWN, BEFORE):
        _cgroup(root, f"cpuset/{parent}/{container}/cpuset.cpus", "0-1\n")
        _cgroup(root, f"cpuacct/{parent}/{container}/cpuacct.usage", "7000000000\n")


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[tuple[str, int, Path]]:
    """The agent on a loopback port; the run's task appears after it started, as in a run."""
    _v1_tree(tmp_path)
    running = Agent.start(KEY.encode(), Layout.of_own_cgroup(tmp_path, V1_OWN))
    _cgroup(tmp_path, f"cpuset/docker/{OURS}/cpuset.cpus", "0-1\n")
    _cgroup(tmp_path, f"cpuacct/docker/{OURS}/cpuacct.usage", "2500000000\n")
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(running))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield "127.0.0.1", server.server_address[1], tmp_path
    server.shutdown()
    server.server_close()


def test_the_run_reads_and_pins_its_own_task(agent: tuple[str, int, Path]) -> None:
    address, port, root = agent
    assert read_node(address, port, KEY, [OURS]) == {OURS: 2.5}
    assert read_node(address, port, KEY, ["0" * 64]) == {"0" * 64: None}  # another node's task: not here
    assert pin_on_node(address, port, KEY, [OURS], "1") == []
    assert (root / f"cpuset/docker/{OURS}/cpuset.cpus").read_text() == "1"
    assert pin_on_node(address, port, KEY, ["0" * 64], "1") == ["0" * 64]


def _status(address: str, port: int, path: str, body: object = None, key: str | None = KEY) -> int:
    data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://{address}:{port}{path}", data=data, method="POST" if data else "GET",
                                     headers={"authorization": f"Bearer {key}"} if key is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310 (a loopback test server)
            return 200
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize(("path", "body", "key"), [
    ("/pin", {"ids": [".."], "cpus": "1"}, KEY),  # would be the root cgroup's cpuset
    ("/pin", {"ids": ["../system.slice"], "cpus": "1"}, KEY),  # the host services' cpuset
    ("/pin", {"ids": ["*"], "cpus": "1"}, KEY),  # a glob over every container
    ("/pin", {"ids": ["a/b"], "cpus": "1"}, KEY),
    ("/pin", {"ids": [BEFORE], "cpus": "1"}, KEY),  # a full id, but of a container outside the run
    ("/pin", {"ids": [OWN], "cpus": "1"}, KEY),  # the agent's own
    ("/pin", {"ids": [OURS], "cpus": "junk"}, KEY),
    ("/pin", {"ids": [OURS], "cpus": "0-999"}, KEY),  # CPUs the node does not have
    ("/pin", {"ids": [OURS], "cpus": "0\n1"}, KEY),
    ("/pin", {"ids": [OURS], "cpus": ""}, KEY),
    ("/pin", {"ids": OURS, "cpus": "1"}, KEY),  # not a list
    ("/pin", b"not json", KEY),
    ("/pin", {"ids": [OURS], "cpus": "1"}, None),  # no key
    ("/pin", {"ids": [OURS], "cpus": "1"}, "k" * 42 + "j"),  # a wrong one
    ("/cpu?ids=..", None, KEY),
    (f"/cpu?ids={BEFORE}", None, KEY),
    (f"/cpu?ids={OURS}", None, None),
    (f"/cpu?ids={OURS}", None, "wrong"),
    ("/anything", None, None),  # no key: 401 before the route is looked at
])
def test_what_is_not_the_runs_own_is_refused_and_nothing_is_written(
        agent: tuple[str, int, Path], path: str, body: object, key: str | None) -> None:
    address, port, root = agent
    before = _snapshot(root)
    status = _status(address, port, path, body, key)
    assert 400 <= status < 500, status
    if key != KEY:
        assert status == 401
    assert _snapshot(root) == before


def test_the_engines_parent_is_read_from_the_agents_own_cgroup(tmp_path: Path) -> None:
    # an engine with its own cgroup-parent (a second engine on one machine), and the systemd driver
    _v1_tree(tmp_path, parent="node2")
    layout = Layout.of_own_cgroup(tmp_path, V1_OWN.replace("/docker/", "/node2/"))
    assert layout.cpu_seconds(BEFORE) == pytest.approx(7.0) and layout.allowed_cpus() == {0, 1}
    _cgroup(tmp_path, f"system.slice/docker-{OURS}.scope/cpu.stat",
            "user_usec 1000000\nusage_usec 1500000\nsystem_usec 500000\n")
    v2 = Layout.of_own_cgroup(tmp_path, f"0::/system.slice/docker-{OWN}.scope\n")
    assert v2.v2 and v2.cpu_seconds(OURS) == pytest.approx(1.5)  # usage_usec, not the first line's
    # v2 in a cgroup namespace of its own: found by the agent's own id in its mounts
    (tmp_path / f"system.slice/docker-{OWN}.scope").mkdir()
    mountinfo = f"1 2 0:3 /var/lib/docker/containers/{OWN}/hostname /etc/hostname rw - ext4 /dev/vda rw\n"
    assert Layout.of_own_cgroup(tmp_path, "0::/\n", mountinfo).cpu_seconds(OURS) == pytest.approx(1.5)
