"""Swarm backend: each tier of a stage a Docker Swarm service on an overlay network of the run's
own; the tiers on this node, the load from as many nodes as carry the label `ladder.tier=load`.

Why Swarm: it is part of the Docker engine the project already drives (the docker SDK's `swarm`,
`nodes`, `services`, `networks`), needs no other software, and runs on one node, so the same
ladder moves from one machine to a few without a home-made orchestrator.

How a stage runs:
- one attachable overlay network per run; every service in DNS round-robin endpoint mode
  (`dnsrr`): the default virtual-IP mode resolves a name but does not route on some kernels;
- the stage's services and PostgreSQL placed by node label (swarm_engine.Placement): on this node
  unless a node is labelled `ladder.tier=app` or `db`, and the wire (`--rtt`) with them on this
  node. Where a tier runs on another node, its CPU is what that node's reader reads, its budget is
  the same CPUs of that node, and the harness reaches it at a port published on its node; the
  evidence only this host can read (its accept queue, py-spy) is left out, and the run says so;
- at `--rtt 0`, no wire: the tiers talk over the overlay, and a probe where the application tier
  runs measures its RTT to where PostgreSQL runs (swarm_network.py), in the wire's columns;
- the budget as a CPU limit per service (`nano_cpus`; Swarm has no cpuset), and each task's
  container pinned to the budget's CPUs, as the docker backend pins its containers, so the load
  generator's CPUs stay its own (on another node, by that node's agent: node_reader.py);
- the load: one locust process on this host, or with `--load-processes N` its master here and N
  workers as a service of the load image on the nodes labelled `load` (any node when none is),
  reaching the edge by name on the overlay as a load machine would (SwarmStage.start_load).

What the harness reads: the window reads the tiers' processes on this node as the docker backend
does, and reaches the edge, PostgreSQL and the wire at their addresses on `docker_gwbridge`, the
bridge every swarm task has to its own host. Each tier's CPU, and each load worker's, is also read
on the node its tasks run on, by the run's node reader (harness/backends/node_reader.py): the
generator's CPU is its master's here plus every worker's where it runs, and with a tier on
another node the server side's CPU is the readers' (harness.measure.window).

The engine must already be a swarm manager: the harness never initialises or leaves a swarm.
Everything it creates carries the run's and the owner's labels; `harness cleanup` removes what a
killed run left.
"""

import contextlib
import functools
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.networks import Network
from docker.models.services import Service
from docker.types import Mount, ServiceMode

from harness import interrupts
from harness.backends.base import DATABASE_TIER, RunEnvironment, RunningStage, new_secret, stage_database
from harness.backends.containers import address, current_pid, host_pid, stopped
from harness.backends.docker_wire import docker_wire, planned_ports
from harness.backends.health import wait_for_postgres, wait_until_healthy
from harness.backends.images import ImageSet, build_load_image, build_stage_images, image_interpreter
from harness.backends.local import service_env
from harness.backends.postgres import ADMIN_USER, prepare_template, server_command
from harness.backends.swarm_engine import (
    GWBRIDGE,
    NodeReaders,
    Placement,
    Task,
    ended_tasks,
    free_port,
    gateway,
    gateway_address,
    master_address,
    node_name,
    pin_task,
    pin_to,
    placement,
    remove_labelled,
    run_service,
    running_containers,
    running_task,
    swarm_engine,
    task_address,
    tier_service,
    wait_for_tasks_gone,
)
from harness.backends.swarm_network import TierProbe, tier_probe
from harness.cpu import CpuBudget
from harness.errors import UserError
from harness.load.shape import LoadShape, LocustRun, start_locust, worker_env
from harness.manifests.manifest import StageManifest, as_stage
from harness.manifests.rung import Rung
from harness.network.emulator import DATABASE_ROUTE, LOOPBACK, NetworkPlan, RunningWire, address_of, rerouted
from harness.ownership import RUN_LABEL, owner_labels
from harness.settings import HarnessSettings

STAGE_LABEL = "ladder.stage"
PG_PORT = 5432
PG_DATA = "/var/lib/postgresql/data"
# on another node: a tmpfs here, the data a directory inside it. A tmpfs is root's (mode 1777), and
# initdb, run as postgres, may create its directory in it but not chmod the mount itself
PG_MEMORY, PG_MEMORY_DATA = "/var/lib/postgresql/memory", "/var/lib/postgresql/memory/data"
APP_UID = "10001:10001"
NODE_CHECK_S = 2.0  # how often a measurement asks the other nodes' agents whether they are there


@dataclass
class SwarmStage:
    stage: StageManifest
    engine: docker.DockerClient
    network: Network
    images: ImageSet
    budget: CpuBudget
    run_id: str
    log_dir: Path
    database_service: str
    database_task: Task  # PostgreSQL's, started with the run
    readers: NodeReaders
    placement: Placement
    network_plan: NetworkPlan = LOOPBACK
    services: dict[str, Service] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    edge_url: str = ""
    wire: RunningWire | None = None
    tier_probe: TierProbe | None = None  # the real network's, where there is no wire
    load_image: Callable[[], str] = str  # the load workers' image, built when first asked for
    _wire_stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _nodes_checked: float = 0.0

    @property
    def base_url(self) -> str:
        return self.edge_url

    @property
    def containers(self) -> dict[str, Container]:
        """The containers of the services' tasks on this node (the manager's engine holds no other)."""
        return {name: task.here for name, task in self.tasks.items() if task.here is not None}

    def _name(self, service: str) -> str:
        return f"ladder-{self.run_id}-{self.stage.order}-{service}"

    def _labels(self) -> dict[str, str]:
        return {RUN_LABEL: self.run_id, STAGE_LABEL: self.stage.id, **owner_labels()}

    def start(self, database_url: str, token_secret: str, timeout: float) -> None:
        # the services reach PostgreSQL by its service name on the overlay
        database_url = rerouted(database_url, self.database_service, PG_PORT)
        urls = {s.name: f"http://{self._name(s.name)}:{s.port}" for s in self.stage.services}
        direct_db = database_url
        if self.network_plan.on:
            wire_ports = planned_ports([*urls, DATABASE_ROUTE])
            urls = {name: rerouted(url, self._name("wire"), wire_ports[name]) for name, url in urls.items()}
            database_url = rerouted(database_url, self._name("wire"), wire_ports[DATABASE_ROUTE])
        env = service_env(self.stage, database_url, token_secret, urls)
        image = self.images.stage(self.stage)
        # where the tier may run on another node, each service's port published there for this host
        published = {s.name: {free_port(): s.port} if "app" in self.placement.elsewhere else {}
                     for s in self.stage.services}
        for spec in self.stage.services:
            command = self.stage.command(spec, "0.0.0.0", len(self.budget.server), python="python")
            self.services[spec.name] = tier_service(
                self.engine, image, self._name(spec.name), self.network, self._labels(), self.budget,
                self.placement.app, published=published[spec.name], command=command, hostname=spec.name,
                env=[f"{k}={v}" for k, v in env.items()], user=APP_UID)
        for name, service in self.services.items():
            self.tasks[name] = running_task(self.engine, service, timeout, self.logs)
            pin_task(self.tasks[name], self.budget.server, self.readers)
        if self.network_plan.on:
            database = self.database_task.here  # a wire only with every tier on this node (Placement.refusal)
            assert database is not None
            here = self.containers
            targets = {s.name: (address(here[s.name], self.network.name), s.port) for s in self.stage.services}
            targets[DATABASE_ROUTE] = (address(database, self.network.name), address_of(direct_db)[1])
            self.wire = self._wire_stack.enter_context(docker_wire(
                self.engine, self.network.name, self._name("wire"), self.images.wire, self.network_plan.rtt_ms,
                targets, planned_ports([*targets]), self.budget.load, self.log_dir.parent / "network",
                self._labels(), reach=lambda wire: gateway_address(self.engine, wire)))
        else:  # no wire: the probe measures the real network between the tiers
            self.tier_probe = self._wire_stack.enter_context(tier_probe(
                self.engine, self.images.wire, self._name("probe"), self.network, self._labels(), self.budget.load,
                timeout, self.placement, self.readers))
        reach = {s.name: "http://" + task_address(self.engine, self.tasks[s.name], s.port, published[s.name],
                                                  self.readers) for s in self.stage.services}
        self.edge_url = reach[self.stage.edge.name]
        wait_until_healthy(self.stage.id, {name: f"{url}/healthz" for name, url in reach.items()}, timeout,
                           lambda name: "" if name in self.dead_services() else None, self.logs, interval=0.3)

    def pids(self) -> list[int]:
        return list(self.service_pids().values())

    def service_pids(self) -> dict[str, int]:
        return {name: pid for name, c in self.containers.items() if (pid := host_pid(c)) > 0}

    def remote_tiers(self) -> dict[str, str]:
        """The tiers whose task runs on another node, and that node's name."""
        elsewhere = {tier: task.node for tier, task in {**self.tasks, DATABASE_TIER: self.database_task}.items()
                     if task.here is None}
        if not elsewhere:
            return {}
        names = {n.id: node_name(n.attrs) for n in self.engine.nodes.list()}
        return {tier: names.get(node, node) for tier, node in elsewhere.items()}

    def node_cpu_seconds(self) -> dict[str, float]:
        """Each tier's CPU seconds so far, read by the node readers from the tasks' cgroups."""
        return self.readers.cpu_seconds({**self.services,
                                         DATABASE_TIER: self.engine.services.get(self.database_service)})

    def measured_network(self, window: tuple[float, float]) -> dict[str, Any] | None:
        return self.tier_probe.record(window) if self.tier_probe is not None else None

    def start_load(self, shape: LoadShape, cpus: frozenset[int], out_dir: Path) -> LocustRun:
        """One locust process here, or (`profile.processes` > 1) locust's master here and its
        workers as a service of the load image, one task per worker on the nodes labelled
        `ladder.tier=load`. The workers reach the edge by its name on the run's overlay, as a load
        machine would, and hand their samples to the master over locust's own connection."""
        if shape.processes == 1:
            return start_locust(self.base_url, shape, cpus, out_dir)
        image = self.load_image()
        port = free_port()
        edge = self.stage.edge
        # the master listens only where its workers reach it: this node's swarm address (the bridge's
        # gateway on a one-node swarm advertising loopback)
        master = master_address(self.engine.info()["Swarm"]["NodeAddr"], gateway(self.engine))
        locust = start_locust(f"http://{self._name(edge.name)}:{edge.port}", shape, cpus, out_dir,
                              master=(master, port))
        name = self._name("load")
        try:
            workers = run_service(
                self.engine, image, name, self.network, self._labels(),
                mode=ServiceMode("replicated", replicas=shape.processes), user=APP_UID,
                constraints=list(self.placement.load), env=[f"{k}={v}" for k, v in worker_env(shape).items()],
                command=["python", "-m", "locust", "-f", "harness/load/locustfile.py", "--worker",
                         "--master-host", master,
                         "--master-port", str(port), "--loglevel", "WARNING"])
            # those on this node: on the load CPUs, and seen by this host's sampler too
            local = running_containers(self.engine, workers, shape.processes, 60.0)
        except BaseException:
            locust.stop()
            self._remove_load()
            raise
        for container in local:
            pin_to(container, cpus)
        locust.worker_pids = lambda: [pid for c in local if (pid := host_pid(c)) > 0]
        # every worker's CPU where it runs, read by that node's reader
        locust.workers_cpu = lambda: self.readers.cpu_seconds({"load": workers})["load"]
        locust.release = self._remove_load
        return locust

    def _remove_load(self) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.engine.services.get(self._name("load")).remove()

    def lost_nodes(self) -> list[str]:
        """The other nodes running a tier of the stage whose agent no longer answers (asked at
        most every NODE_CHECK_S; the window calls this every half second), as 'node (tiers)'."""
        if time.monotonic() - self._nodes_checked < NODE_CHECK_S:
            return []
        self._nodes_checked = time.monotonic()
        tiers: dict[str, set[str]] = {}  # node -> the placement's tiers on it (app: the stage's services)
        for name, task in {**self.tasks, DATABASE_TIER: self.database_task}.items():
            if task.here is None:
                tiers.setdefault(task.node, set()).add("PostgreSQL" if name == DATABASE_TIER else "application")
        if not tiers:
            return []
        names = {n.id: node_name(n.attrs) for n in self.engine.nodes.list()}
        return [f"node {names.get(node, node)} (the {' and '.join(sorted(found))} tier)"
                for node, found in tiers.items() if not self.readers.answers(node)]

    def dead_services(self) -> list[str]:
        elsewhere = {name: self.services[name] for name, task in self.tasks.items() if task.here is None}
        dead = [*stopped(self.containers), *ended_tasks(elsewhere)]
        if self.wire is not None and self.wire.dead():
            dead.append("network emulator")
        return dead

    def logs(self) -> dict[str, str]:
        out = {}
        for name, service in self.services.items():
            with contextlib.suppress(docker.errors.DockerException):
                out[name] = b"".join(service.logs(stdout=True, stderr=True, tail=20)).decode(errors="replace")
        return out

    def stop(self) -> None:
        with interrupts.deferred():
            self.log_dir.mkdir(parents=True, exist_ok=True)
            for name, container in self.containers.items():
                with contextlib.suppress(docker.errors.DockerException):
                    (self.log_dir / f"{name}.log").write_bytes(container.logs())
            # those on other nodes, through the manager: only from a node still there (the manager
            # would wait for a lost one's logs); each node asked once: a lost one takes the timeout
            reachable = {node: self.readers.answers(node)
                         for node in {task.node for task in self.tasks.values() if task.here is None}}
            for name, task in self.tasks.items():
                if task.here is None and reachable[task.node]:
                    with contextlib.suppress(docker.errors.DockerException):
                        (self.log_dir / f"{name}.log").write_bytes(
                            b"".join(self.services[name].logs(stdout=True, stderr=True)))
            if self.tier_probe is not None and all(reachable.values()):
                (self.log_dir / "tier-probe.log").write_bytes(self.tier_probe.log())
            for service in self.services.values():
                with contextlib.suppress(docker.errors.NotFound):
                    service.remove()
            self._remove_load()
            self._wire_stack.close()  # the wire last: the services' connections ran through it
            wait_for_tasks_gone(self.engine, {"label": f"{STAGE_LABEL}={self.stage.id}"})


class SwarmBackend:
    name = "swarm"

    def __init__(self, stages: list[StageManifest], say: Any = print, offline: bool | None = None,
                 network: NetworkPlan = LOOPBACK, profiled: bool = False) -> None:
        self.engine = swarm_engine()  # fails fast, in one line, when this engine cannot run the ladder
        self.placement = placement(self.engine)
        if why := self.placement.refusal(network.rtt_ms if network.on else 0.0, profiled):
            raise UserError(why)
        self.stages, self.say, self.offline = stages, say, offline
        self.images = ImageSet("", "", offline=False)
        self.run_id = secrets.token_hex(4)
        self.network: Network | None = None
        self.readers: NodeReaders | None = None
        self.database_service = f"ladder-{self.run_id}-db"
        self.database_task: Task | None = None

    @functools.cache  # noqa: B019 (one backend per run: the cache goes with it)
    def _load_image(self) -> str:
        return build_load_image(self.images, self.say)

    @contextlib.contextmanager
    def environment(self, budget: CpuBudget, settings: HarnessSettings,
                    logs: Path | None = None) -> Iterator[RunEnvironment]:
        if settings.database_url:
            raise UserError("the swarm backend starts its own PostgreSQL; unset LADDER_DATABASE_URL")
        labels = {RUN_LABEL: self.run_id, **owner_labels()}
        self.images = build_stage_images(self.stages, self.say, self.offline)
        try:
            self.network = self.engine.networks.create(f"ladder-{self.run_id}", driver="overlay", attachable=True,
                                                       labels=labels)
            self.readers = NodeReaders.start(self.engine, self.images.wire, f"ladder-{self.run_id}-reader", labels)
            password = secrets.token_urlsafe(18)
            remote_db = "db" in self.placement.elsewhere
            # the data on a volume of the run's (not the container's layer), as in the docker backend; on
            # another node in memory: a volume there would outlive the run (the manager removes only its own)
            data = Mount(PG_MEMORY, None, type="tmpfs") if remote_db else \
                Mount(PG_DATA, f"ladder-{self.run_id}-pgdata", type="volume", labels=labels)
            published = {free_port(): PG_PORT} if remote_db else {}
            db = tier_service(self.engine, self.images.postgres, self.database_service, self.network, labels, budget,
                              self.placement.db, published=published, args=server_command(), hostname="db",
                              mounts=[data], env=[f"POSTGRES_USER={ADMIN_USER}", f"POSTGRES_PASSWORD={password}",
                                                  "POSTGRES_DB=postgres",
                                                  f"PGDATA={PG_MEMORY_DATA if remote_db else PG_DATA}"])
            task = self.database_task = running_task(self.engine, db, 120.0)
            pin_task(task, budget.server, self.readers)
            admin_url = (f"postgresql://{ADMIN_USER}:{password}@"
                         f"{task_address(self.engine, task, PG_PORT, published, self.readers)}/postgres")
            def last_words() -> str:
                return b"".join(db.logs(stdout=True, stderr=True, tail=5)).decode(errors="replace")[-300:]
            wait_for_postgres(admin_url, 90.0, lambda: bool(ended_tasks({"db": db})), last_words,
                              what="PostgreSQL service", interval=0.5)
            seed_rows = prepare_template(admin_url)
            yield RunEnvironment(
                admin_url, new_secret(settings), budget, seed_rows, "swarm service",
                # on another node its processes are not this host's: the window reads it through the node readers
                lambda: [current_pid(task.here)] if task.here is not None else [],
                details={"enforced": "nano_cpus quota per service + cpuset on the budget's CPUs of its node",
                         "swarm": {"nodes": len(self.engine.nodes.list()), "endpoint_mode": "dnsrr",
                                   "placement": self.placement.describe(),
                                   "tiers_elsewhere": list(self.placement.elsewhere),
                                   "nodes_elsewhere": list(self.placement.nodes),
                                   "postgres_data": "tmpfs on its node" if remote_db else "volume"},
                         "images": {"base": self.images.base, "postgres": self.images.postgres,
                                    "offline_base": self.images.offline},
                         "interpreter": image_interpreter(self.engine, self.images.stage(self.stages[0]), labels)},
            )
        finally:
            remove_labelled(self.engine, self.run_id)

    @contextlib.contextmanager
    def stage(self, env: RunEnvironment, rung: Rung, log_dir: Path, start_timeout: float = 60.0,
              network: NetworkPlan = LOOPBACK) -> Iterator[RunningStage]:
        stage = as_stage(rung)
        assert self.network is not None and self.readers is not None and self.database_task is not None
        running = SwarmStage(stage, self.engine, self.network, self.images, env.budget, self.run_id, log_dir,
                             self.database_service, self.database_task, self.readers, self.placement,
                             network_plan=network,
                             load_image=self._load_image)
        try:
            running.start(stage_database(env, stage), env.token_secret, start_timeout)
            yield running
        finally:
            running.stop()

    def choose_load_path(self, env: RunEnvironment, shape: LoadShape, load_cpus: frozenset[int],
                         out_dir: Path, start_timeout: float = 60.0) -> dict[str, Any]:
        if "app" in self.placement.elsewhere:
            return {"chosen": "published port", "why": "the application tier may run on another node "
                    f"({', '.join(self.placement.nodes)}): the load reaches the edge at the port its task publishes "
                    "there, over the real network between the machines"}
        return {"chosen": GWBRIDGE, "why": "the application tier runs on this host: the load reaches the edge's task "
                                           "on the bridge swarm gives each task to its host, with no proxy in between"}
