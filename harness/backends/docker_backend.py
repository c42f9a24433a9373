"""Docker backend: the database and each stage's services as containers.

Every server container (app and PostgreSQL) gets the same `cpuset_cpus`, plus a
`nano_cpus` quota when asked. Everything is labelled with the run's id and removed by
label on the way out. The load generator stays on the host, on the load CPUs; which way it
reaches the edge (its bridge address or its port published on 127.0.0.1) is measured at
the start of each run (see load_path.py) and recorded in run.json as `load_path`.
"""

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.networks import Network

from harness import interrupts
from harness.backends.base import OneHost, RunEnvironment, RunningStage, new_secret, stage_database
from harness.backends.containers import address, current_pid, host_pid, listed, remove_released, stopped
from harness.backends.docker_wire import docker_wire, planned_ports
from harness.backends.health import wait_for_postgres, wait_until_healthy
from harness.backends.images import ImageSet, build_stage_images, client, image_interpreter
from harness.backends.load_path import BRIDGE, PUBLISHED, choose, measure_path, path_load
from harness.backends.local import service_env
from harness.backends.postgres import ADMIN_USER, prepare_template, server_command
from harness.cpu import CpuBudget, format_cpus
from harness.errors import StageFailed, UserError
from harness.load.shape import LoadShape, LocustRun, start_locust
from harness.manifests.manifest import StageManifest, as_stage
from harness.manifests.rung import Rung
from harness.measure.window import measure
from harness.network.emulator import DATABASE_ROUTE, LOOPBACK, NetworkPlan, RunningWire, address_of, rerouted
from harness.ownership import RUN_LABEL, owner_labels
from harness.settings import HarnessSettings

STAGE_LABEL = "ladder.stage"
PG_PORT = 5432
APP_UID = "10001:10001"


def _limits(budget: CpuBudget) -> dict[str, Any]:
    limits: dict[str, Any] = {"cpuset_cpus": format_cpus(budget.server)}
    if budget.quota is not None:
        limits["nano_cpus"] = int(budget.quota * 1e9)
    return limits




def remove_labelled(engine: docker.DockerClient, run_id: str) -> None:
    """Remove every container and network of a run (also after a crash)."""
    selector = {"label": f"{RUN_LABEL}={run_id}"}
    with interrupts.deferred():
        _remove(engine, selector)


def _remove(engine: docker.DockerClient, selector: dict[str, str]) -> None:
    for container in listed(engine, selector):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True, v=True)  # v: anonymous volumes (the database's data) too
    remove_released(lambda: engine.networks.list(filters=selector))


@dataclass
class DockerStage(OneHost):
    stage: StageManifest
    engine: docker.DockerClient
    network: Network
    images: ImageSet
    budget: CpuBudget
    run_id: str
    log_dir: Path
    path: str = BRIDGE  # how the load reaches the edge: BRIDGE or PUBLISHED
    containers: dict[str, Container] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)  # the edge's URL per path
    edge_url: str = ""
    network_plan: NetworkPlan = LOOPBACK
    wire: RunningWire | None = None
    _wire_stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def base_url(self) -> str:
        return self.edge_url

    def _name(self, service: str) -> str:
        return f"ladder-{self.run_id}-{self.stage.order}-{service}"

    def start(self, database_url: str, token_secret: str, timeout: float) -> None:
        urls = {s.name: f"http://{self._name(s.name)}:{s.port}" for s in self.stage.services}
        direct_db = database_url
        if self.network_plan.on:
            # every service and PostgreSQL is a host of its own behind the wire's container
            wire_ports = planned_ports([*urls, DATABASE_ROUTE])
            urls = {name: rerouted(url, self._name("wire"), wire_ports[name]) for name, url in urls.items()}
            database_url = rerouted(database_url, self._name("wire"), wire_ports[DATABASE_ROUTE])
        env = service_env(self.stage, database_url, token_secret, urls)
        image = self.images.stage(self.stage)
        for spec in self.stage.services:
            command = self.stage.command(spec, "0.0.0.0", len(self.budget.server), python="python")
            # the edge is also published, on loopback only and a free port, for the other load path
            ports = {f"{spec.port}/tcp": ("127.0.0.1", None)} if spec.edge else {}
            self.containers[spec.name] = self.engine.containers.run(
                image, command=command, name=self._name(spec.name), hostname=spec.name, environment=env,
                network=self.network.name, user=APP_UID, detach=True, ports=ports,
                labels={RUN_LABEL: self.run_id, STAGE_LABEL: self.stage.id, **owner_labels()},
                **_limits(self.budget),
            )
        addresses = {name: address(c, self.network.name) for name, c in self.containers.items()}
        if self.network_plan.on:
            targets = {s.name: (addresses[s.name], s.port) for s in self.stage.services}
            targets[DATABASE_ROUTE] = address_of(direct_db)
            self.wire = self._wire_stack.enter_context(docker_wire(
                self.engine, self.network.name, self._name("wire"), self.images.wire, self.network_plan.rtt_ms,
                targets, planned_ports([*targets]), self.budget.load, self.log_dir.parent / "network",
                {RUN_LABEL: self.run_id, STAGE_LABEL: self.stage.id, **owner_labels()}))
        edge = self.stage.edge
        published = self.containers[edge.name].attrs["NetworkSettings"]["Ports"][f"{edge.port}/tcp"][0]
        self.urls = {BRIDGE: f"http://{addresses[edge.name]}:{edge.port}",
                     PUBLISHED: f"http://{published['HostIp']}:{published['HostPort']}"}
        self.edge_url = self.urls[self.path]
        wait_until_healthy(self.stage.id,
                           {s.name: f"http://{addresses[s.name]}:{s.port}/healthz" for s in self.stage.services},
                           timeout, lambda name: "" if name in self.dead_services() else None, self.logs,
                           interval=0.3)

    def pids(self) -> list[int]:
        return [host_pid(c) for c in self.containers.values() if host_pid(c) > 0]

    def service_pids(self) -> dict[str, int]:
        return {name: pid for name, c in self.containers.items() if (pid := host_pid(c)) > 0}

    def start_load(self, shape: LoadShape, cpus: frozenset[int], out_dir: Path) -> LocustRun:
        return start_locust(self.base_url, shape, cpus, out_dir)

    def dead_services(self) -> list[str]:
        dead = stopped(self.containers)
        if self.wire is not None and self.wire.dead():
            dead.append("network emulator")
        return dead

    def logs(self) -> dict[str, str]:
        out = {}
        for name, container in self.containers.items():
            with contextlib.suppress(docker.errors.DockerException):
                out[name] = container.logs(tail=20).decode(errors="replace")
        return out

    def stop(self) -> None:
        with interrupts.deferred():
            self.log_dir.mkdir(parents=True, exist_ok=True)
            for name, container in self.containers.items():
                with contextlib.suppress(docker.errors.DockerException):
                    (self.log_dir / f"{name}.log").write_bytes(container.logs())
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True, v=True)  # v: anonymous volumes (the database's data) too
            self._wire_stack.close()  # the wire last: the services' connections ran through it


class DockerBackend:
    name = "docker"

    def __init__(self, stages: list[StageManifest], say: Any = print, offline: bool | None = None, **_: Any) -> None:
        self.engine = client()  # fails fast, in one line, when there is no engine
        self.stages, self.say, self.offline = stages, say, offline
        self.images = ImageSet("", "", offline=False)
        self.run_id = secrets.token_hex(4)
        self.network: Network | None = None
        self.load_path = BRIDGE

    @contextlib.contextmanager
    def environment(self, budget: CpuBudget, settings: HarnessSettings,
                    logs: Path | None = None) -> Iterator[RunEnvironment]:
        if settings.database_url:
            raise UserError("the docker backend starts its own PostgreSQL; unset LADDER_DATABASE_URL")
        labels = {RUN_LABEL: self.run_id, **owner_labels()}
        self.images = build_stage_images(self.stages, self.say, self.offline)
        try:
            self.network = self.engine.networks.create(f"ladder-{self.run_id}", driver="bridge", labels=labels)
            password = secrets.token_urlsafe(18)
            db = self.engine.containers.run(
                self.images.postgres, name=f"ladder-{self.run_id}-db", detach=True, network=self.network.name,
                environment={"POSTGRES_USER": ADMIN_USER, "POSTGRES_PASSWORD": password, "POSTGRES_DB": "postgres"},
                command=server_command(),
                labels=labels, **_limits(budget),
            )
            admin_url = f"postgresql://{ADMIN_USER}:{password}@{address(db, self.network.name)}:{PG_PORT}/postgres"
            _wait_for_postgres(admin_url, db)
            seed_rows = prepare_template(admin_url)
            yield RunEnvironment(
                admin_url, new_secret(settings), budget, seed_rows, "container",
                lambda: [current_pid(db)],  # a restarted container's server: its new pid
                details={"enforced": "cpuset_cpus" + (" + nano_cpus quota" if budget.quota else ""),
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
        assert self.network is not None
        running = DockerStage(stage, self.engine, self.network, self.images, env.budget, self.run_id, log_dir,
                              self.load_path, network_plan=network)
        try:
            running.start(stage_database(env, stage), env.token_secret, start_timeout)
            yield running
        finally:
            running.stop()

    def choose_load_path(self, env: RunEnvironment, shape: LoadShape, load_cpus: frozenset[int],
                         out_dir: Path, start_timeout: float = 60.0) -> dict[str, Any]:
        """Measure both load paths on the last stage's static JSON; later stages use the faster."""
        stage, probing = self.stages[-1], path_load(shape)
        try:
            with self.stage(env, stage, out_dir / "logs", start_timeout) as running:
                assert isinstance(running, DockerStage)

                def measure_at(url: str, folder: Path) -> dict[str, Any]:
                    running.edge_url = url
                    return measure(running, env.admin_url, env.database_pids, probing, load_cpus, folder)

                probes = [measure_path(path, running.urls[path], measure_at, out_dir) for path in (BRIDGE, PUBLISHED)]
            self.load_path, why = choose(*probes)
        except StageFailed as failed:
            raise UserError(f"could not measure the load path on {stage.id}: {failed}") from None
        return {"chosen": self.load_path, "why": why, "probe_stage": stage.id, "probe_load": probing.as_record(),
                "paths": {p.path: p.as_record() for p in probes}}


def _wait_for_postgres(url: str, container: Container, timeout: float = 90.0) -> None:
    def died() -> bool:
        container.reload()
        return bool(container.status == "exited")

    def last_words() -> str:
        return str(container.logs(tail=5).decode(errors="replace")).strip().replace("\n", " | ")[-300:]
    wait_for_postgres(url, timeout, died, last_words, what="PostgreSQL container", interval=0.5)
