"""What a run sets up around its stages: the database, the secret, each stage's servers.

A backend (local processes, Docker containers, Swarm services: local.py, docker_backend.py,
swarm.py) provides two context managers: the run's environment (PostgreSQL, seeded once) and one
stage's running services. Whatever they start they stop on the way out, on errors and on Ctrl-C.
"""

import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.backends.postgres import fresh_stage_database
from harness.cpu import CpuBudget, ServerPlacement
from harness.load.shape import LoadShape, LocustRun
from harness.manifests.manifest import StageManifest
from harness.manifests.rung import Rung
from harness.network.emulator import LOOPBACK, NetworkPlan, RunningWire
from harness.paths import REPO_ROOT
from harness.settings import HarnessSettings

DATABASE_TIER = "postgres"  # the database's key among the tiers' CPU readings (node_cpu_seconds)


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

    wire: RunningWire | None  # the network between its tiers, when the run has one

    @property
    def stage(self) -> Rung: ...

    @property
    def base_url(self) -> str: ...
    def pids(self) -> list[int]: ...
    def service_pids(self) -> dict[str, int]:
        """Each running service's main process, as seen from this host."""
        ...
    def remote_tiers(self) -> dict[str, str]:
        """The tiers running on another node (swarm), and that node's name; none on one host. Their
        processes are not this host's: the window reads their CPU through the node readers."""
        ...
    def node_cpu_seconds(self) -> dict[str, float] | None:
        """Each tier's CPU seconds so far as the nodes it runs on read it (swarm), or None where
        every tier runs on this host and the window reads its processes."""
        ...
    def measured_network(self, window: tuple[float, float]) -> dict[str, Any] | None:
        """The real network between the tiers as probed in the window (harness.network.real: a
        swarm stage without a wire), or None: the wire measures its own, and one host has none."""
        ...
    def start_load(self, shape: LoadShape, cpus: frozenset[int], out_dir: Path) -> LocustRun:
        """Locust against the stage's edge, its processes on `cpus` where they run on this host."""
        ...
    def dead_services(self) -> list[str]: ...
    def lost_nodes(self) -> list[str]:
        """The nodes that run a tier of the stage and stopped answering (swarm), as 'node (tier)'."""
        ...
    def logs(self) -> dict[str, str]: ...


class OneHost:
    """What a stage whose every tier runs on this host answers the window (local processes, one
    engine's containers): no tier elsewhere, no node to read or lose, no network of its own to probe."""

    def remote_tiers(self) -> dict[str, str]:
        return {}

    def node_cpu_seconds(self) -> None:
        return None  # every tier on this host: the window reads its processes

    def measured_network(self, window: tuple[float, float]) -> None:
        return None  # one host: loopback, or the wire, which measures its own

    def lost_nodes(self) -> list[str]:
        return []


class Backend(Protocol):
    name: str

    def environment(self, budget: CpuBudget, settings: HarnessSettings, logs: Path | None = None
                    ) -> contextlib.AbstractContextManager[RunEnvironment]:
        """The run's PostgreSQL and secret until the block ends; `logs`: where its set-up may keep
        what it printed (the run folder's)."""
        ...

    def stage(self, env: RunEnvironment, stage: Rung, log_dir: Path, start_timeout: float,
              network: NetworkPlan = LOOPBACK) -> contextlib.AbstractContextManager[RunningStage]: ...

    def choose_load_path(self, env: RunEnvironment, shape: LoadShape, load_cpus: frozenset[int],
                         out_dir: Path, start_timeout: float) -> dict[str, Any]:
        """How the load generator will reach the edge, and why (recorded in run.json)."""


def new_secret(settings: HarnessSettings) -> str:
    return settings.token_secret or secrets.token_urlsafe(32)


def stage_database(env: RunEnvironment, stage: StageManifest) -> str:
    """A fresh copy of the seeded template, with the stage's migrations applied."""
    return fresh_stage_database(env.admin_url, [REPO_ROOT / m for m in stage.migrations])
