"""Each swarm node's own reading of the CPU its tasks used, and its pinning of them to the budget's
CPUs: a small HTTP agent, run as a global service (one task per node) of the project's own image,
and the client the swarm backend asks.

Why a service of our own: the CPU a container used is only known to the node it runs on (its
cgroup's usage counter); the docker API the harness talks to is the manager's engine, which can
`stats` only its own containers, and Swarm has no API for a task's CPU. A reader on every node,
with the host's cgroup tree mounted, answers for the containers the harness names — the harness
knows each task's container and node from the manager (`service.tasks()`). Its reply is the node's
cumulative counters, so a window's CPU is the difference of two readings, as for the processes the
window reads on its own host.

Why it also pins: Swarm has no cpuset (only a quota), and the manager's engine cannot update a
container on another node. On this node the harness pins a task through the engine; on any other,
this agent writes the budget's CPUs into the task's cpuset cgroup, which is what `docker update
--cpuset-cpus` writes. So it runs as root with the cgroup tree mounted read-write, and it is
locked down accordingly (docs/security.md lists every listener of a run):

- **Only its run asks.** Every request carries the run's key (a Swarm secret made for the run,
  mounted in the agent's container and held in the harness's memory: never in an image, the
  environment, a log or run.json); a missing or wrong key is a 401, compared in constant time.
- **Only the run's tasks.** At start the agent lists the containers already under its engine's
  container parent: none of them is the run's (the agent starts before every tier of the run), and
  it never reads or writes them — the node's other containers, another run's, its own. Any other id
  comes from the harness, which names only the tasks of services labelled with its run.
- **No request text becomes a path.** An id is 64 lowercase hex digits or a 400; its cgroup is the
  engine's container parent (read from the agent's own cgroup, not from the request) joined with
  the name the engine gives a container, and it is used only if it resolves under that parent. No
  glob ever sees input.
- **Only CPUs the node has.** `cpus` is a cpuset list of CPUs the parent allows, or a 400; what is
  written is the agent's own rendering of the parsed set, not the request's text.
- **As narrow as the manager needs.** It runs on the node's host network and listens on the node's
  swarm address only (the one the manager and the harness reach it at), for as long as the run.

Why hand-written: the standard library's HTTP server and one file read per container; no
exporter (cAdvisor, node-exporter) can be pulled here, and each would read far more than this
while pinning nothing. The agent runs inside the wire's image, which carries only the standard
library.

    LADDER_NODE=NODE_ID python -m harness.backends.node_reader --key-file /run/secrets/node-key \
        --listen NODE_ID=ADDRESS [--listen …] --port 20100
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import re
import socket
import sys
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

MOUNT = "/host/cgroup"
KEY_FILE = "/run/secrets/node-key"
CONTAINER_ID = re.compile(r"[0-9a-f]{64}")
CPU_LIST = re.compile(r"\d{1,4}(-\d{1,4})?(,\d{1,4}(-\d{1,4})?)*")
MAX_BODY = 64 * 1024  # a pin request names a handful of ids; anything longer is not the harness's
MAX_IDS = 256


def parse_cpu_list(text: str) -> frozenset[int] | None:
    """`1`, `0-3`, `0,2-3` as a set of CPUs; None for anything else (a newline, a space, a range
    written backwards, nothing at all)."""
    if not CPU_LIST.fullmatch(text):
        return None
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        if int(high or low) < int(low):
            return None
        cpus.update(range(int(low), int(high or low) + 1))
    return frozenset(cpus)


def render_cpu_list(cpus: frozenset[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


@dataclass(frozen=True)
class Controller:
    """One cgroup controller's directory of the engine's containers (`parent`), and how the engine
    names a container's cgroup in it (`{id}` for cgroupfs, `docker-{id}.scope` for systemd)."""
    parent: Path
    name: str

    def path(self, container_id: str, file: str) -> Path | None:
        """The container's `file` in this controller, if it exists and resolves under the parent
        (a symlink planted in the tree leads nowhere)."""
        path = self.parent / self.name.format(id=container_id) / file
        try:
            resolved = path.resolve(strict=True)
        except OSError:
            return None
        return resolved if resolved.is_relative_to(self.parent.resolve()) and resolved.is_file() else None

    def containers(self) -> set[str]:
        """The ids of the containers under the parent now."""
        pattern = re.compile(re.escape(self.name).replace(re.escape("{id}"), "([0-9a-f]{64})"))
        with os.scandir(self.parent) as entries:
            return {m.group(1) for e in entries if e.is_dir(follow_symlinks=False) and (m := pattern.fullmatch(e.name))}


@dataclass(frozen=True)
class Layout:
    """Where the engine keeps its containers' cgroups on this node: the controller with their CPU
    counter and the one with their cpuset (the same directory under cgroup v2)."""
    cpu: Controller
    cpuset: Controller
    v2: bool

    @classmethod
    def of_own_cgroup(cls, root: Path, own: str, mountinfo: str = "") -> Layout:
        """From the agent's own cgroup, as /proc/self/cgroup lists it (`own`): its container's
        directory is one of the engine's, so its parent is where every task of this engine is.
        Under cgroup v2 in a namespace of its own the agent sees only `/`; then its directory is
        found by its own container id (from `mountinfo`: the engine bind-mounts the container's
        hostname file from its folder), never by anything a request says."""
        paths: dict[str, str] = {}
        for line in own.splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
        if "cpuset" in paths and "cpuacct" in paths:
            return cls(_controller(root / _mounted(root, "cpuacct"), paths["cpuacct"]),
                       _controller(root / "cpuset", paths["cpuset"]), v2=False)
        if "" in paths and paths[""] in ("/", "") and (match := re.search(r"/containers/([0-9a-f]{64})/", mountinfo)):
            paths[""] = _own_directory(root, match.group(1))
        if "" in paths and paths[""] not in ("/", ""):
            unified = _controller(root, paths[""])
            return cls(unified, unified, v2=True)
        raise SystemExit("node agent: its own cgroup does not show where the engine keeps containers "
                         f"({own.strip()!r}); run it in the host's cgroup namespace")

    def cpu_seconds(self, container_id: str) -> float | None:
        """CPU seconds the container's cgroup has used since it started; None if not on this node."""
        if self.v2:
            if (path := self.cpu.path(container_id, "cpu.stat")) is None:
                return None
            fields = dict(line.split() for line in path.read_text().splitlines() if line.strip())
            return int(fields["usage_usec"]) / 1e6
        if (path := self.cpu.path(container_id, "cpuacct.usage")) is None:
            return None
        return int(path.read_text()) / 1e9

    def allowed_cpus(self) -> frozenset[int]:
        """The CPUs a container under the parent may be given: the parent's own cpuset."""
        for name in ("cpuset.cpus.effective", "cpuset.cpus"):
            if (path := self.cpuset.parent / name).is_file():
                return parse_cpu_list(path.read_text().strip()) or frozenset()
        return frozenset(range(os.cpu_count() or 1))

    def pin(self, container_id: str, cpus: frozenset[int]) -> bool:
        """Write `cpus` into the container's cpuset; False if it is not on this node."""
        if (path := self.cpuset.path(container_id, "cpuset.cpus")) is None:
            return False
        path.write_text(render_cpu_list(cpus))
        return True


def _mounted(root: Path, controller: str) -> str:
    """The directory a v1 controller is mounted at under the root (cpuacct may be `cpu,cpuacct`)."""
    for name in (controller, f"cpu,{controller}", f"{controller},cpu"):
        if (root / name).is_dir():
            return name
    return controller


def _own_directory(root: Path, own_id: str) -> str:
    """The agent's own cgroup directory under a v2 root, two levels down at most (the engine's
    parent, then the container), as a path from the root."""
    for depth in ("*", "*/*", "*/*/*"):
        for path in root.glob(depth):
            if own_id in path.name and path.is_dir():
                return "/" + str(path.relative_to(root))
    return "/"


def _controller(mount: Path, own_path: str) -> Controller:
    parent, _, own_name = own_path.rstrip("/").rpartition("/")
    match = CONTAINER_ID.search(own_name)
    if match is None:
        raise SystemExit(f"node agent: its own cgroup {own_path!r} is not a container's")
    return Controller(mount / parent.lstrip("/"), own_name.replace(match.group(0), "{id}"))


@dataclass
class Agent:
    """What the agent answers, apart from HTTP: the key, the layout, and the containers that are
    not the run's (those under the parent when it started)."""
    key: bytes
    layout: Layout
    before_the_run: set[str] = field(default_factory=set)

    @classmethod
    def start(cls, key: bytes, layout: Layout) -> Agent:
        if len(key) < 16:
            raise SystemExit("node agent: the run's key is missing or too short")
        return cls(key, layout, layout.cpu.containers() | layout.cpuset.containers())

    def authorised(self, header: str | None) -> bool:
        scheme, _, offered = (header or "").partition(" ")
        return scheme == "Bearer" and hmac.compare_digest(offered.encode(), self.key)

    def refusal(self, ids: object) -> str | None:
        """Why these ids cannot be served, or None."""
        if not isinstance(ids, list) or len(ids) > MAX_IDS or not all(isinstance(i, str) for i in ids):
            return f"ids: a list of at most {MAX_IDS} container ids"
        for container_id in ids:
            if not CONTAINER_ID.fullmatch(container_id):
                return "ids: each a full container id (64 lowercase hex digits)"
            if container_id in self.before_the_run:
                return f"container {container_id[:12]} is not one of the run's tasks"
        return None

    def cpu(self, ids: list[str]) -> dict[str, float | None]:
        return {i: self.layout.cpu_seconds(i) for i in ids}

    def cpus_refusal(self, cpus: object) -> tuple[frozenset[int] | None, str | None]:
        parsed = parse_cpu_list(cpus) if isinstance(cpus, str) else None
        if not parsed:
            return None, "cpus: a CPU list such as 1, 0-3 or 0,2-3"
        allowed = self.layout.allowed_cpus()
        if not parsed <= allowed:
            return None, f"cpus: this node has CPUs {render_cpu_list(allowed)} only"
        return parsed, None

    def pin(self, ids: list[str], cpus: frozenset[int]) -> list[str]:
        """Pin each found container; the ids not found on this node."""
        return [i for i in ids if not self.layout.pin(i, cpus)]


def handler(agent: Agent) -> type[BaseHTTPRequestHandler]:
    class Reader(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the server's name for it)
            query = urlparse(self.path)
            if not self._allowed(query.path, "/cpu"):
                return
            ids = [i for i in parse_qs(query.query).get("ids", [""])[0].split(",") if i]
            if why := agent.refusal(ids):
                self.send_error(400, why)
                return
            self._reply({"node": socket.gethostname(), "cpu_seconds": agent.cpu(ids)})

        def do_POST(self) -> None:  # noqa: N802 (the server's name for it)
            if not self._allowed(self.path, "/pin"):
                return
            try:
                length = int(self.headers.get("content-length", "0"))
                if not 0 < length <= MAX_BODY:
                    raise ValueError
                asked = json.loads(self.rfile.read(length))
                if not isinstance(asked, dict):
                    raise ValueError
            except ValueError:
                self.send_error(400, "a JSON object {ids, cpus} of at most 64 KiB")
                return
            if why := agent.refusal(asked.get("ids")):
                self.send_error(400, why)
                return
            cpus, why = agent.cpus_refusal(asked.get("cpus"))
            if cpus is None:
                self.send_error(400, why)
                return
            try:
                missing = agent.pin(asked["ids"], cpus)
            except OSError as error:  # a read-only tree, a CPU the kernel refuses: the harness says so
                self.send_error(409, f"cannot pin to CPUs {render_cpu_list(cpus)}: {error.strerror}")
                return
            self._reply({"node": socket.gethostname(), "not_found": missing})

        def _allowed(self, path: str, route: str) -> bool:
            """The key first (an unknown caller learns nothing, not even which paths exist), then the route."""
            if not agent.authorised(self.headers.get("authorization")):
                self.send_error(401)
                return False
            if path != route:
                self.send_error(404)
                return False
            return True

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


def _request(url: str, key: str, data: bytes | None = None) -> urllib.request.Request:
    return urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                  headers={"authorization": f"Bearer {key}"})


def read_node(address: str, port: int, key: str, container_ids: list[str],
              timeout: float = 5.0) -> dict[str, float | None]:
    """One node's reading of these containers (None: not found there)."""
    request = _request(f"http://{address}:{port}/cpu?ids={','.join(container_ids)}", key)
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (our own agent)
        return dict(json.loads(answer.read())["cpu_seconds"])


def pin_on_node(address: str, port: int, key: str, container_ids: list[str], cpus: str,
                timeout: float = 5.0) -> list[str]:
    """Pin these containers on one node to `cpus`; the ids of those it did not find there."""
    request = _request(f"http://{address}:{port}/pin", key, json.dumps({"ids": container_ids, "cpus": cpus}).encode())
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (our own agent)
        return list(json.loads(answer.read())["not_found"])


def listen_address(pairs: list[str], node: str) -> str:
    """This node's swarm address from the `NODE_ID=ADDRESS` pairs the harness passed."""
    addresses = dict(pair.split("=", 1) for pair in pairs)
    if node not in addresses:
        raise SystemExit(f"node agent: no address given for node {node!r}")
    return addresses[node]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--node", default=os.environ.get("LADDER_NODE"),
                        help="this node's id (default: LADDER_NODE, which the service sets to {{.Node.ID}})")
    parser.add_argument("--listen", action="append", default=[], help="NODE_ID=ADDRESS, one per node")
    parser.add_argument("--key-file", default=KEY_FILE)
    parser.add_argument("--cgroup-root", default=MOUNT)
    args = parser.parse_args()
    root = Path(args.cgroup_root)
    agent = Agent.start(Path(args.key_file).read_bytes().strip(),
                        Layout.of_own_cgroup(root, Path("/proc/self/cgroup").read_text(),
                                             Path("/proc/self/mountinfo").read_text()))
    address = listen_address(args.listen, args.node)
    print(f"node agent on {address}:{args.port}, {len(agent.before_the_run)} containers predate the run",
          file=sys.stderr, flush=True)
    ThreadingHTTPServer((address, args.port), handler(agent)).serve_forever()


if __name__ == "__main__":
    main()
