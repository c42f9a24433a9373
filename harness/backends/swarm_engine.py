"""The swarm calls the swarm backend (swarm.py) makes through the docker SDK: the manager check,
placement by node label, a tier's service with its CPU limit, the running tasks' containers and
their addresses on this host, the node readers, and removal of everything a run labelled."""

import contextlib
import socket
import time
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.networks import Network
from docker.models.services import Service
from docker.types import EndpointSpec, Mount, Resources, RestartPolicy, ServiceMode

from harness import interrupts
from harness.backends.containers import listed, remove_released
from harness.backends.images import client
from harness.backends.node_reader import MOUNT as READER_MOUNT
from harness.backends.node_reader import read_node
from harness.cpu import CpuBudget, format_cpus
from harness.errors import StageFailed, UserError
from harness.ownership import RUN_LABEL

MAKE_MANAGER = "docker swarm init --advertise-addr 127.0.0.1"
TIER_LABEL = "ladder.tier"
GWBRIDGE = "docker_gwbridge"  # each swarm task's bridge to its own host
ENDED = ("complete", "failed", "shutdown", "rejected", "orphaned", "remove")


def swarm_engine() -> docker.DockerClient:
    """The engine, if it is the manager of a swarm this backend can measure; else one line saying why."""
    engine = client()
    swarm = engine.info().get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
        raise UserError(f"the swarm backend needs this Docker engine to be a swarm manager: `{MAKE_MANAGER}` "
                        "makes it one (a single node; `docker swarm leave --force` undoes it)")
    nodes = {n.id: n.attrs for n in engine.nodes.list()}
    if why := refusal(nodes, str(swarm["NodeID"])):
        raise UserError(why)
    return engine


def tier_label(node: dict[str, Any]) -> str | None:
    return (node.get("Spec", {}).get("Labels") or {}).get(TIER_LABEL)


def refusal(nodes: dict[str, dict[str, Any]], this_node: str) -> str | None:
    """Why this swarm cannot be measured, or None. The tiers run on this node, where every part of
    a verdict's evidence is read (the budget CPUs' busy and steal time, the edge's accept queue,
    PostgreSQL's sessions, py-spy, the host-speed watcher); other nodes may only carry load
    (`ladder.tier=load`): locust's workers, whose CPU the node readers read where they run."""
    others = sorted(n.get("Description", {}).get("Hostname") or node_id
                    for node_id, n in ((i, m) for i, m in nodes.items() if i != this_node) if tier_label(n) != "load")
    if not others:
        return None
    return (f"the swarm's nodes {', '.join(others)} are not labelled {TIER_LABEL}=load: the tiers run on this node, "
            f"where a verdict's evidence is read, and other nodes may carry only the load "
            f"(`docker node update --label-add {TIER_LABEL}=load NODE`, or leave them out of the swarm)")


def here(engine: docker.DockerClient) -> list[str]:
    """A tier's placement: this node (see refusal)."""
    return [f"node.id=={engine.info()['Swarm']['NodeID']}"]


def load_constraints(engine: docker.DockerClient) -> list[str]:
    """The load workers' placement: the nodes labelled `load`, or anywhere when none is (one node)."""
    labelled = [n for n in engine.nodes.list() if tier_label(n.attrs) == "load"]
    return [f"node.labels.{TIER_LABEL}==load"] if labelled else []


def master_address(node_address: str, gateway_address: str) -> str:
    """Where locust's workers reach their master on this node: its swarm address, which other
    nodes route to; the docker_gwbridge gateway when the swarm advertises loopback (a one-node
    swarm, where a task's loopback would be its own)."""
    return gateway_address if node_address.startswith("127.") else node_address


def running_container(engine: docker.DockerClient, service: Service, timeout: float,
                      logs: Any = None) -> Container:
    """The container of the service's one task once it runs; a task that ended is a failed stage."""
    return running_containers(engine, service, 1, timeout, logs)[0]


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
    """Every service, container, network and volume of a run (also after a crash)."""
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


def wait_for_tasks_gone(engine: docker.DockerClient, selector: dict[str, str], timeout: float = 30.0) -> None:
    """A removed service's task containers go asynchronously; its network and volume only after them."""
    deadline = time.monotonic() + timeout
    while listed(engine, selector) and time.monotonic() < deadline:
        time.sleep(0.3)


def run_service(engine: docker.DockerClient, image: str, name: str, network: Network, labels: dict[str, str],
                **spec: Any) -> Service:
    """A service of the run on its overlay: labelled (service and containers) for cleanup, in DNS
    round-robin endpoint mode (a virtual IP does not route on some kernels), and never restarted: a
    task that dies stays dead, so the stage fails with its logs instead of restarting unseen."""
    return engine.services.create(
        image, name=name, networks=[network.id], labels=labels, container_labels=labels,
        endpoint_spec=EndpointSpec(mode="dnsrr"), restart_policy=RestartPolicy(condition="none"), **spec)


def tier_service(engine: docker.DockerClient, image: str, name: str, network: Network, labels: dict[str, str],
                 budget: CpuBudget, **spec: Any) -> Service:
    """A tier of the stage (or PostgreSQL) as a service on this node, the budget as its CPU limit."""
    nano_cpus = int((budget.quota if budget.quota is not None else len(budget.server)) * 1e9)
    return run_service(engine, image, name, network, labels, resources=Resources(cpu_limit=nano_cpus),
                       constraints=here(engine), **spec)


def pin_to(container: Container, cpus: frozenset[int]) -> None:
    """On this host, the task's CPUs as its cpuset: the budget's for a tier (the quota alone would
    let it run on the load's), the load's for a load worker."""
    container.update(cpuset_cpus=format_cpus(cpus))


@dataclass
class NodeReaders:
    """The run's node reader on every node (harness/backends/node_reader.py): a global service
    publishing `port` on each node's own address."""
    engine: docker.DockerClient
    port: int

    @classmethod
    def start(cls, engine: docker.DockerClient, image: str, name: str, labels: dict[str, str],
              timeout: float = 60.0) -> "NodeReaders":
        port = free_port()
        engine.services.create(
            image, name=name, labels=labels, container_labels=labels, mode=ServiceMode("global"),
            command=["python", "-m", "harness.backends.node_reader", "--port", str(port)],
            mounts=[Mount(READER_MOUNT, "/sys/fs/cgroup", type="bind", read_only=True)],
            endpoint_spec=EndpointSpec(mode="dnsrr", ports={port: (port, "tcp", "host")}),
            restart_policy=RestartPolicy(condition="none"))
        readers = cls(engine, port)
        deadline = time.monotonic() + timeout
        while True:  # every node's reader answers before a stage starts
            interrupts.check()
            try:
                for address in readers.nodes().values():
                    read_node(address, port, [], timeout=2.0)
                return readers
            except OSError:
                if time.monotonic() > deadline:
                    raise StageFailed(f"the node reader {name} did not answer on port {port} "
                                      f"within {timeout:.0f}s") from None
                time.sleep(0.3)

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
            read = read_node(addresses[node], self.port, [c for _, c in tasks])
            for name, container in tasks:
                if read.get(container) is None:
                    raise StageFailed(f"the node reader on {addresses[node]} found no cgroup for {name}'s task")
                seconds[name] += float(read[container] or 0.0)
        return seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))  # noqa: S104 (a port free on this host's every address)
        return int(s.getsockname()[1])
