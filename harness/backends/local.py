"""Local backend: the embedded PostgreSQL, and a stage's services as processes pinned to the server CPUs."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import interpreter, interrupts
from harness.backends.base import OneHost, RunEnvironment, RunningStage, new_secret, stage_database
from harness.backends.cgroups import cpu_quota_group
from harness.backends.health import wait_until_healthy
from harness.backends.postgres import EmbeddedPostgres, drop_databases, prepare_template
from harness.cpu import CpuBudget, ServerPlacement
from harness.errors import UserError
from harness.load.shape import LoadShape, LocustRun, start_locust
from harness.manifests.manifest import StageManifest, as_stage
from harness.manifests.rung import Rung
from harness.network.emulator import DATABASE_ROUTE, LOOPBACK, NetworkPlan, RunningWire, address_of, running_wire
from harness.paths import REPO_ROOT
from harness.settings import HarnessSettings

HOST = "127.0.0.1"


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def service_env(stage: StageManifest, database_url: str, token_secret: str,
                urls: dict[str, str]) -> dict[str, str]:
    """What every service process of the stage is told, through LADDER_* variables."""
    return {
        "LADDER_DATABASE_URL": database_url,
        "LADDER_TOKEN_SECRET": token_secret,
        "LADDER_SERVICES": json.dumps(urls),
        "LADDER_DB_ADAPTER": stage.adapters.db,
        "LADDER_RPC_ADAPTER": stage.adapters.rpc,
        "LADDER_QUERIES_ADAPTER": stage.adapters.queries,
        **stage.env,
    }


@dataclass(kw_only=True)
class LocalProcesses(OneHost):
    """A stage's processes on this host, whoever's code they run (the ladder's stages here, a
    service's variants in harness.service.running): their logs, the wire between them and
    PostgreSQL, their health, the load sent to them, and their end. `stop` is safe to call at
    any time, twice."""

    log_dir: Path
    placement: ServerPlacement
    network: NetworkPlan = LOOPBACK
    wire_cpus: frozenset[int] = frozenset()  # the load CPUs: the wire is not part of the budget
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    wire: RunningWire | None = None
    _network_stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def log_path(self, service: str) -> Path:
        return self.log_dir / f"{service}.log"

    def logs(self) -> dict[str, str]:
        return {name: tail(self.log_path(name)) for name in self.processes}

    def start_wire(self, targets: dict[str, tuple[str, int]]) -> RunningWire:
        """The wire between the tiers (the load CPUs, outside the budget), until `stop`."""
        self.wire = self._network_stack.enter_context(running_wire(
            self.network.rtt_ms, targets, self.wire_cpus or self.placement.cpus, self.log_dir.parent / "network"))
        return self.wire

    def spawn(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        """One server process on the budget, in a session of its own (a Ctrl-C reaches the harness first)."""
        with open(self.log_path(name), "wb") as log:
            self.processes[name] = subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=self.placement.enter, start_new_session=True,
            )

    def wait_healthy(self, stage_id: str, urls: dict[str, str], timeout: float, field: str = "") -> None:
        def exited(name: str) -> str | None:
            code = self.processes[name].poll()
            return None if code is None else f" (code {code})"
        wait_until_healthy(stage_id, urls, timeout, exited, self.logs, field=field)

    def dead_services(self) -> list[str]:
        dead = [n for n, p in self.processes.items() if p.poll() is not None]
        if self.wire is not None and self.wire.dead():
            dead.append("network emulator")
        return dead

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes.values() if p.poll() is None]

    def service_pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.processes.items() if p.poll() is None}

    def stop(self, grace: float = 10.0) -> None:
        with interrupts.deferred():
            self._stop(grace)

    def _stop(self, grace: float) -> None:
        for proc in self.processes.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        # gunicorn workers and other children are in the same process group
        for proc in self.processes.values():
            _signal_group(proc, signal.SIGKILL)
        self._network_stack.close()  # the wire last: the services' connections ran through it


@dataclass(kw_only=True)
class LocalStage(LocalProcesses):
    """A ladder stage's services as processes of this repository's code."""

    stage: StageManifest

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.stage.edge.port}"

    def start(self, database_url: str, token_secret: str, timeout: float = 60.0) -> None:
        for spec in self.stage.services:
            if port_in_use(spec.port):
                raise UserError(f"port {spec.port} is in use (needed by {spec.name} of {self.stage.id})")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        urls = {s.name: f"http://{HOST}:{s.port}" for s in self.stage.services}
        if self.network.on:
            # every service is a host of its own, and so is PostgreSQL: each connection into
            # one of them crosses the wire; the load generator still reaches the edge directly
            targets = {name: address_of(url) for name, url in urls.items()}
            targets[DATABASE_ROUTE] = address_of(database_url)
            wire = self.start_wire(targets)
            urls = {name: wire.url(name, url) for name, url in urls.items()}
            database_url = wire.url(DATABASE_ROUTE, database_url)
        env = {**os.environ, **service_env(self.stage, database_url, token_secret, urls)}
        # a variant outside the repo imports its own modules from beside its manifest
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(self.stage.folder.parent), str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
        for spec in self.stage.services:
            self.spawn(spec.name, self.stage.command(spec, HOST, len(self.placement.cpus)), env, REPO_ROOT)
        self.wait_healthy(self.stage.id, {s.name: f"http://{HOST}:{s.port}/healthz" for s in self.stage.services},
                          timeout)

    def start_load(self, shape: LoadShape, cpus: frozenset[int], out_dir: Path) -> LocustRun:
        return start_locust(self.base_url, shape, cpus, out_dir)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


class LocalBackend:
    """Processes on this machine, pinned with sched_setaffinity; the embedded PostgreSQL."""

    name = "local"

    def __init__(self, **_: Any) -> None:  # the registry's arguments (stages, say, network…): none needed here
        self.postgres: EmbeddedPostgres | None = None

    @contextlib.contextmanager
    def environment(self, budget: CpuBudget, settings: HarnessSettings,
                    logs: Path | None = None) -> Iterator[RunEnvironment]:
        with contextlib.ExitStack() as stack:
            group = stack.enter_context(cpu_quota_group(budget.quota)) if budget.quota else None
            placement = ServerPlacement(budget.server, group)
            enforced = "affinity" + (f" + CPU quota ({group.describe()})" if group else "")
            postgres = None if settings.database_url else EmbeddedPostgres(placement)
            self.postgres = postgres  # a side-by-side window copies it for its second variant
            if postgres:
                stack.callback(postgres.stop)
            admin_url = postgres.start() if postgres else settings.database_url
            if not postgres:
                stack.callback(self.drop_databases, admin_url)  # also on errors and Ctrl-C
            secret = new_secret(settings)
            seed_rows = self.prepare_database(admin_url, secret)
            yield RunEnvironment(admin_url, secret, budget, seed_rows,
                                 "embedded" if postgres else "external",
                                 postgres.pids if postgres else list,
                                 details={"enforced": enforced, **self.details()}, placement=placement)

    def prepare_database(self, admin_url: str, secret: str) -> dict[str, int]:
        """The run's template database (the ladder's seed), each table's rows; `secret`: the run's."""
        return prepare_template(admin_url)

    def drop_databases(self, admin_url: str) -> None:
        """Leave an external server as the run found it."""
        drop_databases(admin_url)

    def details(self) -> dict[str, Any]:
        """What run.json records of where the stages ran."""
        return {"interpreter": interpreter.this_interpreter()}

    def choose_load_path(self, env: RunEnvironment, shape: LoadShape, load_cpus: frozenset[int],
                         out_dir: Path, start_timeout: float = 60.0) -> dict[str, Any]:
        return {"chosen": "loopback", "why": "local services listen on 127.0.0.1; there is no other path"}

    @contextlib.contextmanager
    def stage(self, env: RunEnvironment, rung: Rung, log_dir: Path, start_timeout: float = 60.0,
              network: NetworkPlan = LOOPBACK) -> Iterator[RunningStage]:
        stage = as_stage(rung)
        database_url = stage_database(env, stage)
        running = LocalStage(stage=stage, log_dir=log_dir, network=network, wire_cpus=env.budget.load,
                             placement=env.placement or ServerPlacement(env.budget.server))
        try:
            running.start(database_url, env.token_secret, start_timeout)
            yield running
        finally:
            running.stop()


# the local backend's functions, for callers that need no choice (verify)
_local = LocalBackend()
run_environment = _local.environment
running_stage = _local.stage
