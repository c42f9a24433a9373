"""Where a service's variants run: local processes on the budget, with the run's embedded
PostgreSQL, as the ladder's local backend runs its stages (harness/backends/local.py, which this
extends: the same PostgreSQL, quota, wire and teardown).

Before any window, every variant is made ready, so a variant that cannot be measured stops the
run in one line naming it before minutes of measuring: its tree checked out (variants.py), its
environment built or reused (environments.py), the user's locustfile imported once, then, with
PostgreSQL up, its set-up commands run into a database template of its own (setup.py). Each
measurement then starts the variant on a fresh copy of its template.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from psycopg import sql

from harness import interpreter
from harness.backends.base import RunEnvironment, RunningStage
from harness.backends.local import LocalBackend
from harness.backends.postgres import STAGE_DB, admin, free_port, with_database
from harness.cpu import CpuBudget, ServerPlacement
from harness.errors import StageFailed, UserError
from harness.load.shape import LoadShape
from harness.manifests.rung import Rung
from harness.network.emulator import LOOPBACK, NetworkPlan
from harness.service import environments
from harness.service.running import OWN_LOCUSTFILE, ServiceStage
from harness.service.service_file import ServiceFile
from harness.service.setup import run_setup
from harness.service.variant import ServiceEdge, ServiceVariant
from harness.service.variants import VariantSource, checkout, variants_folder
from harness.settings import HarnessSettings


class ServiceBackend(LocalBackend):
    """The local backend for a service's variants (`harness run-all --service`)."""

    def __init__(self, service: ServiceFile, sources: list[VariantSource], repo: Path | None) -> None:
        super().__init__()
        self.service, self.repo = service, repo
        # the service's place in the repository, found again in every variant's tree
        self.top = repo or service.folder
        self.relative_root = service.root_path.relative_to(self.top.resolve())
        self.port = free_port()  # one port: the variants run one at a time
        self.variants = [ServiceVariant(source, order, ServiceEdge(service.name, self.port), Path(), Path())
                         for order, source in enumerate(sources, start=1)]
        self.logs = Path()

    @contextlib.contextmanager
    def environment(self, budget: CpuBudget, settings: HarnessSettings,
                    logs: Path | None = None) -> Iterator[RunEnvironment]:
        with contextlib.ExitStack() as stack:
            folder = variants_folder()
            stack.callback(shutil.rmtree, folder, True)
            logs = logs or folder / "setup"  # the run folder's, where there is one
            logs.mkdir(parents=True, exist_ok=True)
            for variant in self.variants:
                variant.tree = checkout(variant.source, self.repo, folder)
                variant.root = variant.tree / self.relative_root
                if not variant.root.is_dir():
                    raise UserError(f"variant {variant.id}: it has no {self.relative_root} (the service file's root)")
                log = logs / f"{variant.id}.environment.log"
                variant.environment = environments.build(self.service, variant.root, variant.tree, variant.id, log)
            self._check_locustfile()
            self.logs = logs
            yield stack.enter_context(super().environment(budget, settings, logs))

    def prepare_database(self, admin_url: str, secret: str) -> dict[str, int]:
        """Each variant's template: its set-up commands on an empty database of its own."""
        with admin(admin_url) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(STAGE_DB)))
        if self.service.database.kind == "none":
            return {}
        for variant in self.variants:
            log = self.logs / f"{variant.id}.setup.log"
            try:
                variant.template = run_setup(self.service, variant, admin_url, secret, self.port, 1, log)
            except StageFailed as failed:
                raise UserError(f"variant {failed} (log: {log})") from None
        return {}

    def drop_databases(self, admin_url: str) -> None:
        with admin(admin_url) as conn:
            for name in [STAGE_DB, *(v.template for v in self.variants if v.template)]:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def details(self) -> dict[str, Any]:
        first = self.variants[0].environment
        return {"interpreter": interpreter.describe([str(first.python)]) if first else interpreter.this_interpreter(),
                "variants": [v.record() for v in self.variants]}

    def _check_locustfile(self) -> None:
        """The user's locustfile imports, or the run stops here in one line (locust --list imports it)."""
        if not self.service.load.locustfile:
            return
        path = (self.service.folder / self.service.load.locustfile).resolve()
        if not path.is_file():
            raise UserError(f"load.locustfile: {path} not found")
        done = subprocess.run([sys.executable, "-m", "locust", "-f", str(OWN_LOCUSTFILE), "--list"],
                              env={**os.environ, "LADDER_OWN_LOCUSTFILE": str(path), "LADDER_MIX": "own"},
                              capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            last = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()][-1:]
            raise UserError(f"load.locustfile: {path.name} does not import: {last[0] if last else 'no output'}")

    @contextlib.contextmanager
    def stage(self, env: RunEnvironment, rung: Rung, log_dir: Path, start_timeout: float = 60.0,
              network: NetworkPlan = LOOPBACK) -> Iterator[RunningStage]:
        variant = next(v for v in self.variants if v.id == rung.id)
        url = fresh_copy(env.admin_url, variant.template) if variant.template else None
        running = ServiceStage(stage=variant, service=self.service, log_dir=log_dir, network=network,
                               wire_cpus=env.budget.load, placement=env.placement or ServerPlacement(env.budget.server))
        try:
            running.start(url, env.token_secret, start_timeout)
            yield running
        finally:
            running.stop()

    def choose_load_path(self, env: RunEnvironment, shape: LoadShape, load_cpus: frozenset[int],
                         out_dir: Path, start_timeout: float = 60.0) -> dict[str, Any]:
        return {"chosen": "loopback", "why": "the service listens on 127.0.0.1; there is no other path"}


def fresh_copy(admin_url: str, template: str) -> str:
    """The stage database as a new copy of the variant's template."""
    with admin(admin_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(STAGE_DB)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(STAGE_DB),
                                                                      sql.Identifier(template)))
    url = with_database(admin_url, STAGE_DB)
    with admin(url) as conn:
        conn.execute("CHECKPOINT")  # its pages written now, not by the checkpointer mid-window
    return url
