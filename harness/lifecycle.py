"""What a run sets up around its stages: the database, the secret, each stage's processes.

Everything here is a context manager, so whatever a run starts is stopped on the way out,
on errors and on Ctrl-C alike.
"""

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.cpu import CpuBudget
from harness.local import LocalStage
from harness.manifest import REPO_ROOT, StageManifest
from harness.postgres import EmbeddedPostgres, drop_databases, fresh_stage_database, prepare_template
from harness.settings import HarnessSettings


@dataclass
class RunEnvironment:
    admin_url: str
    token_secret: str
    budget: CpuBudget
    postgres: EmbeddedPostgres | None
    seed_rows: dict[str, int]

    def database_pids(self) -> list[int]:
        return self.postgres.pids() if self.postgres else []

    @property
    def database_kind(self) -> str:
        return "embedded" if self.postgres else "external"


@contextlib.contextmanager
def run_environment(budget: CpuBudget, settings: HarnessSettings) -> Iterator[RunEnvironment]:
    postgres = None if settings.database_url else EmbeddedPostgres(cpus=budget.server)
    try:
        admin_url = postgres.start() if postgres else settings.database_url
        seed_rows = prepare_template(admin_url)
        yield RunEnvironment(admin_url, settings.token_secret or secrets.token_urlsafe(32),
                             budget, postgres, seed_rows)
        if not postgres:
            drop_databases(admin_url)
    finally:
        if postgres:
            postgres.stop()


@contextlib.contextmanager
def running_stage(env: RunEnvironment, stage: StageManifest, log_dir: Path,
                  start_timeout: float = 60.0) -> Iterator[LocalStage]:
    """A fresh copy of the seeded database, then the stage's services, healthy."""
    database_url = fresh_stage_database(env.admin_url, [REPO_ROOT / m for m in stage.migrations])
    running = LocalStage(stage, log_dir, env.budget.server)
    try:
        running.start(database_url, env.token_secret, start_timeout)
        yield running
    finally:
        running.stop()
