"""The swarm calls the swarm backend (swarm.py) makes through the docker SDK: the manager check,
placement by node label, a tier's service with its CPU limit, the running tasks' containers and
their addresses on this host, the node readers, and removal of everything a run labelled."""

import contextlib
import secrets
import socket
import time
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.networks import Network
from docker.models.services import Service
from docker.types import EndpointSpec, Mount, Resources, RestartPolicy, SecretReference, ServiceMode

from harness import interrupts
from harness.backends.containers import listed, remove_released
from harness.backends.images import client
from harness.backends.node_reader import MOUNT as READER_MOUNT
from harness.backends.node_reader import pin_on_node, read_node
from harness.cpu import CpuBudget, format_cpus
from harness.errors import StageFailed, UserError
from harness.ownership import RUN_LABEL

MAKE_MANAGER = "docker swarm init --advertise-addr 127.0.0.1"
TIER_LABEL = "ladder.tier"
GWBRIDGE = "docker_gwbridge"  # each swarm task's bridge to its own host
ENDED = ("complete", "failed", "shutdown", "rejected", "orphaned", "remove")


def swarm_engine() -> docker.DockerClient:
    """The engine, if it is a swarm manager; else one line saying how to make it one."""
    engine = client()
    swarm = engine.info().get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
        raise UserError(f"the swarm backend needs this Docker engine to be a swarm manager: `{MAKE_MANAGER}` "
                        "makes it one (a single node; `docker swarm leave --force` undoes it)")
    return engine


def tier_label(node: dict[str, Any]) -> str | None:
    return (node.get("Spec", {}).get("Labels") or {}).get(TIER_LABEL)


def node_name(node: dict[str, Any]) -> str:
    return str(node.get("Description", {}).get("Hostname") or node.get("ID", "?"))


@dataclass(frozen=True)
class Placement:
    """Where a run's tiers go, by node label: the application tier on the nodes labelled
    `ladder.tier=app`, PostgreSQL on those labelled `db`, each on this node when no node carries its
    label; the load's workers on those labelled `load`, anywhere when none is.

    A tier on another node (`elsewhere`) changes what can be read, and the run says so: the budget
    is its CPUs on every node that carries a tier (pinned there by the node's agent), so the server
    side is bound per node and the verdict takes the busiest; its CPU is what the node readers read;
    the edge's accept queue and py-spy need its processes here, and are not read; the wire would
    route every hop through this node, so the tiers talk over the real network (`--rtt 0`)."""
    app: tuple[str, ...]
    db: tuple[str, ...]
    load: tuple[str, ...]
    elsewhere: tuple[str, ...] = ()  # the tiers ('app', 'db') that may run on another node
    nodes: tuple[str, ...] = ()  # the nodes labelled for them, by name

    def refusal(self, rtt_ms: float, profiled: bool) -> str | None:
        """Why a run with these options cannot be measured on this placement, or None."""
        if not self.elsewhere:
            return None
        where = f"the {' and '.join(self.elsewhere)} tier on {', '.join(self.nodes)}"
        if rtt_ms > 0:
            return (f"{where}: tiers on other nodes talk over the real network, and the wire would route them "
                    "through this one: use --rtt 0 (the probe measures the real RTT)")
        if profiled:
            return f"{where}: py-spy reads processes on this host only; --profile needs the tiers here"
        return None

    def describe(self) -> str:
        """For run.json: where each tier goes, in the labels' words."""
        def where(constraints: tuple[str, ...], otherwise: str) -> str:
            return f"on {constraints[0].removeprefix('node.labels.')}" if constraints[0:1] and \
                constraints[0].startswith("node.labels.") else otherwise
        return (f"application tier {where(self.app, 'on this node')}, PostgreSQL {where(self.db, 'on this node')}, "
                f"load workers {where(self.load, 'anywhere')}")


def placement(engine: docker.DockerClient) -> Placement:
    """The run's placement from the swarm's node labels (see Placement)."""
    return placement_of([n.attrs for n in engine.nodes.list()], engine.info()["Swarm"]["NodeID"])


def placement_of(nodes: list[dict[str, Any]], this_node: str) -> Placement:
    elsewhere: list[str] = []
    names: list[str] = []

    def constraints(tier: str) -> tuple[str, ...]:
        labelled = [n for n in nodes if tier_label(n) == tier]
        if not labelled:
            return (f"node.id=={this_node}",)
        if any(n["ID"] != this_node for n in labelled):
            elsewhere.append(tier)
            names.extend(name for n in labelled if n["ID"] != this_node and (name := node_name(n)) not in names)
        return (f"node.labels.{TIER_LABEL}=={tier}",)
    app, db = constraints("app"), constraints("db")
    load = (f"node.labels.{TIER_LABEL}==load",) if any(tier_label(n) == "load" for n in nodes) else ()
    return Placement(app, db, load, tuple(elsewhere), tuple(names))


def master_address(node_address: str, gateway_address: str) -> str:
    """Where locust's workers reach their master on this node: its swarm address, which other
    nodes route to; the docker_gwbridge gateway when the swarm advertises loopback (a one-node
    swarm, where a task's loopback would be its own)."""
    return gateway_address if node_address.startswith("127.") else node_address


def running_containers(engine: docker.DockerClient, service: Service, count: int, timeout: float,
                       logs: Any = None) -> list[Container]:
    """The containers of the service's `count` tasks once they all run, those on this node; a task
    that ended is a failed stage. A task on another node runs its container on that node's engine."""
    this_node = engine.info()["Swarm"]["NodeID"]
    return [engine.containers.get(container) for node, container in running_tasks(service, count, timeout, logs)
            if node == this_node]


def running_tasks(service: Service, count: int, timeout: float, logs: Any = None) -> list[tuple[str, str]]:
    """(node, container) of each of the service's `count` tasks, once they all run; a task that
    ended is a failed stage."""
    deadline = time.monotonic() + timeout
    while True:
        interrupts.check()
        running: list[tuple[str, str]] = []
        with contextlib.suppress(docker.errors.NotFound):
            for task in service.tasks():
                status = task.get("Status") or {}
                if status.get("State") == "running":
                    container_id = (status.get("ContainerStatus") or {}).get("ContainerID")
                    if container_id:
                        running.append((task["NodeID"], container_id))
                if status.get("State") in ENDED:
                    raise StageFailed(f"service {service.name} ended at start: {status.get('State')} "
                                      f"{status.get('Err', '')}".strip(), logs() if logs else {})
        if len(running) >= count:
            return running[:count]
        if time.monotonic() > deadline:
            raise StageFailed(f"service {service.name}: {len(running)} of {count} tasks running after "
                              f"{timeout:.0f}s", logs() if logs else {})
        time.sleep(0.3)


def gateway_address(engine: docker.DockerClient, container: Container) -> str:
    """The container's address on docker_gwbridge, which its host can route to (an overlay's it cannot).
    Swarm keeps that endpoint out of the container's own network settings: the bridge lists it."""
    container.reload()
    listed = (container.attrs["NetworkSettings"]["Networks"] or {}).get(GWBRIDGE)
    if listed and listed.get("IPAddress"):
        return str(listed["IPAddress"])
    endpoints = engine.networks.get(GWBRIDGE).attrs.get("Containers") or {}
    endpoint = endpoints.get(container.id)
    if not endpoint:
        raise StageFailed(f"{container.name} has no address on {GWBRIDGE}: this host cannot reach it")
    return str(endpoint["IPv4Address"]).split("/")[0]


def gateway(engine: docker.DockerClient) -> str:
    """This host's address on docker_gwbridge: where a task on this node reaches its host (the
    load's master). A task on another node would use the manager's address instead; a single node
    is all this backend runs."""
    config = engine.networks.get(GWBRIDGE).attrs["IPAM"]["Config"]
    return str(config[0]["Gateway"])


def remove_labelled(engine: docker.DockerClient, run_id: str) -> None:
    """Every service, container, network, volume and secret of a run (also after a crash)."""
    selector = {"label": f"{RUN_LABEL}={run_id}"}
    with interrupts.deferred():
        for service in engine.services.list(filters=selector):
            with contextlib.suppress(docker.errors.NotFound):
                service.remove()
        wait_for_tasks_gone(engine, selector)
        for container in listed(engine, selector):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
        remove_released(lambda: [*engine.networks.list(filters=selector), *engine.volumes.list(filters=selector)])
        for secret in engine.secrets.list(filters=selector):  # free once the services using it are gone
            with contextlib.suppress(docker.errors.NotFound):
                secret.remove()


def wait_for_tasks_gone(engine: docker.DockerClient, selector: dict[str, str], timeout: float = 30.0) -> None:
    """A removed service's task containers go asynchronously; its network and volume only after them."""
    deadline = time.monotonic() + timeout
    while listed(engine, selector) and time.monotonic() < deadline:
        time.sleep(0.3)


def run_service(engine: docker.DockerClient, image: str, name: str, network: Network, labels: dict[str, str],
                published: dict[int, int] | None = None, **spec: Any) -> Service:
    """A service of the run on its overlay: labelled (service and containers) for cleanup, in DNS
    round-robin endpoint mode (a virtual IP does not route on some kernels), and never restarted: a
    task that dies stays dead, so the stage fails with its logs instead of restarting unseen.
    `published` (port on its node: port in the task) in host mode: how this host reaches a task on
    another node, with no routing mesh in between."""
    ports = {node_port: (port, "tcp", "host") for node_port, port in (published or {}).items()}
    return engine.services.create(
        image, name=name, networks=[network.id], labels=labels, container_labels=labels,
        endpoint_spec=EndpointSpec(mode="dnsrr", ports=ports or None), restart_policy=RestartPolicy(condition="none"),
        **spec)


def tier_service(engine: docker.DockerClient, image: str, name: str, network: Network, labels: dict[str, str],
                 budget: CpuBudget, constraints: tuple[str, ...], **spec: Any) -> Service:
    """A tier of the stage (or PostgreSQL) as a service where `constraints` place it, the budget as
    its CPU limit (and, once it runs, its cpuset: pin)."""
    nano_cpus = int((budget.quota if budget.quota is not None else len(budget.server)) * 1e9)
    return run_service(engine, image, name, network, labels, resources=Resources(cpu_limit=nano_cpus),
                       constraints=list(constraints), **spec)


@dataclass(frozen=True)
class Task:
    """A service's running task: its node, its container, and that container when it is on this
    node (the manager's engine holds only its own node's containers)."""
    node: str
    container_id: str
    here: Container | None


def running_task(engine: docker.DockerClient, service: Service, timeout: float, logs: Any = None) -> Task:
    """The service's one task once it runs; a task that ended is a failed stage."""
    (node, container_id), = running_tasks(service, 1, timeout, logs)
    local = node == engine.info()["Swarm"]["NodeID"]
    return Task(node, container_id, engine.containers.get(container_id) if local else None)


def pin_to(container: Container, cpus: frozenset[int]) -> None:
    """On this host, the task's CPUs as its cpuset: the budget's for a tier (the quota alone would
    let it run on the load's), the load's for a load worker."""
    container.update(cpuset_cpus=format_cpus(cpus))


def pin_task(task: Task, cpus: frozenset[int], readers: "NodeReaders") -> None:
    """The task's cpuset: through the engine on this node, through its node's agent elsewhere."""
    if task.here is not None:
        pin_to(task.here, cpus)
    else:
        readers.pin(task.node, task.container_id, cpus)


def task_address(engine: docker.DockerClient, task: Task, port: int, published: dict[int, int],
                 readers: "NodeReaders") -> str:
    """host:port where this host reaches the task's `port`: its docker_gwbridge address on this
    node (no proxy in between); on another, its node's address and the port published there
    (`published`: node port to task port, as the service was created with)."""
    if task.here is not None:
        return f"{gateway_address(engine, task.here)}:{port}"
    node_port = next((node_port for node_port, target in published.items() if target == port), None)
    if node_port is None:
        raise StageFailed(f"container {task.container_id[:12]} runs on another node and publishes no port for {port}")
    return f"{readers.nodes()[task.node]}:{node_port}"


def ended_tasks(services: dict[str, Service]) -> list[str]:
    """The services whose task ended, wherever it ran (the manager knows every node's tasks)."""
    ended = []
    for name, service in services.items():
        with contextlib.suppress(docker.errors.NotFound):
            if any((t.get("Status") or {}).get("State") in ENDED for t in service.tasks()):
                ended.append(name)
    return ended


@dataclass(repr=False)
class NodeReaders:
    """The run's node agent on every node (harness/backends/node_reader.py): a global service on
    each node's host network, listening on the node's swarm address only, answering only requests
    that carry the run's key. The key is a Swarm secret of the run's (mounted in the agents' tasks)
    and this object's memory; it is not repr'd, logged or written to the run folder."""
    engine: docker.DockerClient
    port: int
    key: str

    @classmethod
    def start(cls, engine: docker.DockerClient, image: str, name: str, labels: dict[str, str],
              timeout: float = 60.0) -> "NodeReaders":
        port = free_port()
        key = secrets.token_urlsafe(32)
        secret = engine.secrets.create(name=f"{name}-key", data=key.encode(), labels=labels)
        addresses = {n.id: n.attrs["Status"]["Addr"] for n in engine.nodes.list()}
        engine.services.create(
            image, name=name, labels=labels, container_labels=labels, mode=ServiceMode("global"),
            command=["python", "-m", "harness.backends.node_reader", "--port", str(port),
                     *(f"--listen={node}={address}" for node, address in addresses.items())],
            env=["LADDER_NODE={{.Node.ID}}"],  # Swarm fills templates in the environment, not in arguments
            # root and the tree read-write: it pins tasks on its node (node_reader says why and how it is locked)
            user="0:0", mounts=[Mount(READER_MOUNT, "/sys/fs/cgroup", type="bind", read_only=False)],
            secrets=[SecretReference(secret.id, secret.name, filename="node-key", uid="0", gid="0", mode=0o400)],
            networks=["host"], restart_policy=RestartPolicy(condition="none"))
        readers = cls(engine, port, key)
        deadline = time.monotonic() + timeout
        while True:  # every node's reader answers before a stage starts
            interrupts.check()
            try:
                for address in readers.nodes().values():
                    read_node(address, port, key, [], timeout=2.0)
                return readers
            except OSError:
                if time.monotonic() > deadline:
                    said = b"".join(engine.services.get(name).logs(stdout=True, stderr=True, tail=3)).decode(
                        errors="replace").strip().splitlines()
                    raise UserError(f"the node agent {name} did not answer on port {port} within {timeout:.0f}s"
                                    + (f": {said[-1]}" if said else "")) from None
                time.sleep(0.3)

    def pin(self, node: str, container_id: str, cpus: frozenset[int]) -> None:
        """Pin a task on another node to `cpus` through that node's agent."""
        address = self.nodes()[node]
        try:
            missing = pin_on_node(address, self.port, self.key, [container_id], format_cpus(cpus))
        except OSError as error:  # an HTTPError carries the agent's one line
            raise StageFailed(f"the node agent on {address} could not pin a task to CPUs {format_cpus(cpus)}: "
                              f"{getattr(error, 'reason', error)}") from None
        if missing:
            raise StageFailed(f"the node agent on {address} found no cpuset for container {container_id[:12]}")

    def answers(self, node: str, timeout: float = 1.5) -> bool:
        """Does the node's agent answer (the node is there, and reachable from here)?"""
        address = self.nodes().get(node)
        if address is None:
            return False
        try:
            read_node(address, self.port, self.key, [], timeout=timeout)
        except OSError:
            return False
        return True

    def nodes(self) -> dict[str, str]:
        """Each node's id and the address its published ports answer on."""
        return {n.id: n.attrs["Status"]["Addr"] for n in self.engine.nodes.list()}

    def cpu_seconds(self, services: dict[str, Service]) -> dict[str, float]:
        """Each service's CPU seconds so far (its running tasks summed), read on the nodes they run on."""
        where: dict[str, list[tuple[str, str]]] = {}  # node -> (service, container)
        for name, service in services.items():
            for task in service.tasks(filters={"desired-state": "running"}):
                container = ((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID")
                if container:
                    where.setdefault(task["NodeID"], []).append((name, container))
        addresses = self.nodes()
        seconds = dict.fromkeys(services, 0.0)
        for node, tasks in where.items():
            read = read_node(addresses[node], self.port, self.key, [c for _, c in tasks])
            for name, container in tasks:
                if read.get(container) is None:
                    raise StageFailed(f"the node reader on {addresses[node]} found no cgroup for {name}'s task")
                seconds[name] += float(read[container] or 0.0)
        return seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))  # noqa: S104 (a port free on this host's every address)
        return int(s.getsockname()[1])
