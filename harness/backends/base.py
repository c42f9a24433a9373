"""What a run sets up around its stages: the database, the secret, each stage's servers.

A backend (local processes, or Docker containers) provides two context managers: the run's
environment (PostgreSQL, seeded once) and one stage's running services. Whatever they start
they stop on the way out, on errors and on Ctrl-C alike.
"""

import contextlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness import interpreter
from harness.backends.cgroups import cpu_quota_group
from harness.backends.local import LocalStage
from harness.backends.postgres import EmbeddedPostgres, drop_databases, fresh_stage_database, prepare_template
from harness.cpu import CpuBudget, ServerPlacement
from harness.ladder.manifest import StageManifest
from harness.load.profile import LoadProfile
from harness.network.emulator import LOOPBACK, NetworkPlan, RunningWire
from harness.paths import REPO_ROOT
from harness.settings import HarnessSettings


@dataclass
class RunEnvironment:
    admin_url: str
    token_secret: str
    budget: CpuBudget
    seed_rows: dict[str, int]
    database_kind: str
    database_pid_source: Callable[[], list[int]] = list
    details: dict[str, Any] = field(default_factory=dict)  # recorded in run.json
    placement: ServerPlacement | None = None

    def database_pids(self) -> list[int]:
        return self.database_pid_source()


class RunningStage(Protocol):
    """A started stage, whatever runs it."""

    stage: StageManifest
    wire: RunningWire | None  # the network between its tiers, when the run has one

    @property
    def base_url(self) -> str: ...
    def pids(self) -> list[int]: ...
    def service_pids(self) -> dict[str, int]:
        """Each running service's main process, as seen from this host."""
        ...
    def dead_services(self) -> list[str]: ...
    def logs(self) -> dict[str, str]: ...


class Backend(Protocol):
    name: str

    def environment(self, budget: CpuBudget, settings: HarnessSettings) -> contextlib.AbstractContextManager[
            RunEnvironment]: ...

    def stage(self, env: RunEnvironment, stage: StageManifest, log_dir: Path, start_timeout: float,
              network: NetworkPlan = LOOPBACK) -> contextlib.AbstractContextManager[RunningStage]: ...

    def choose_load_path(self, env: RunEnvironment, profile: LoadProfile, load_cpus: frozenset[int],
                         out_dir: Path, start_timeout: float) -> dict[str, Any]:
        """How the load generator will reach the edge, and why (recorded in run.json)."""


def new_secret(settings: HarnessSettings) -> str:
    return settings.token_secret or secrets.token_urlsafe(32)


def stage_database(env: RunEnvironment, stage: StageManifest) -> str:
    """A fresh copy of the seeded template, with the stage's migrations applied."""
    return fresh_stage_database(env.admin_url, [REPO_ROOT / m for m in stage.migrations])


class LocalBackend:
    """Processes on this machine, pinned with sched_setaffinity; the embedded PostgreSQL."""

    name = "local"

    @contextlib.contextmanager
    def environment(self, budget: CpuBudget, settings: HarnessSettings) -> Iterator[RunEnvironment]:
        with contextlib.ExitStack() as stack:
            group = stack.enter_context(cpu_quota_group(budget.quota)) if budget.quota else None
            placement = ServerPlacement(budget.server, group)
            enforced = "affinity" + (f" + CPU quota ({group.describe()})" if group else "")
            postgres = None if settings.database_url else EmbeddedPostgres(placement)
            if postgres:
                stack.callback(postgres.stop)
            admin_url = postgres.start() if postgres else settings.database_url
            seed_rows = prepare_template(admin_url)
            if not postgres:
                stack.callback(drop_databases, admin_url)  # also on errors and Ctrl-C
            yield RunEnvironment(admin_url, new_secret(settings), budget, seed_rows,
                                 "embedded" if postgres else "external",
                                 postgres.pids if postgres else list,
                                 details={"enforced": enforced, "interpreter": interpreter.this_interpreter()},
                                 placement=placement)

    def choose_load_path(self, env: RunEnvironment, profile: LoadProfile, load_cpus: frozenset[int],
                         out_dir: Path, start_timeout: float = 60.0) -> dict[str, Any]:
        return {"chosen": "loopback", "why": "local services listen on 127.0.0.1; there is no other path"}

    @contextlib.contextmanager
    def stage(self, env: RunEnvironment, stage: StageManifest, log_dir: Path, start_timeout: float = 60.0,
              network: NetworkPlan = LOOPBACK) -> Iterator[RunningStage]:
        database_url = stage_database(env, stage)
        running = LocalStage(stage, log_dir, env.placement or ServerPlacement(env.budget.server),
                             network, env.budget.load)
        try:
            running.start(database_url, env.token_secret, start_timeout)
            yield running
        finally:
            running.stop()


# the local backend's functions, for callers that need no choice (verify)
_local = LocalBackend()
run_environment = _local.environment
running_stage = _local.stage
