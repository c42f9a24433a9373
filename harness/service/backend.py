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
import random
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from psycopg import sql

from harness import interpreter
from harness.backends.base import RunEnvironment, RunningStage
from harness.backends.local import LocalBackend
from harness.backends.postgres import STAGE_DB, EmbeddedPostgres, admin, free_port, with_database
from harness.cpu import CpuBudget, ServerPlacement
from harness.errors import StageFailed, UserError
from harness.load.shape import LoadShape
from harness.manifests.rung import Rung
from harness.network.emulator import LOOPBACK, NetworkPlan
from harness.service import environments
from harness.service.running import OWN_LOCUSTFILE, ServiceStage
from harness.service.service_file import ServiceFile
from harness.service.setup import run_setup
from harness.service.statements import REPEATS, probe_variant, write_statements
from harness.service.variant import ServiceEdge, ServiceVariant
from harness.service.variants import VariantSource, checkout, variants_folder
from harness.service.verify import request_of
from harness.settings import HarnessSettings


class ServiceBackend(LocalBackend):
    """The local backend for a service's variants (`harness run-all --service`)."""

    def __init__(self, service: ServiceFile, sources: list[VariantSource], repo: Path | None,
                 say: Callable[[str], None] = lambda line: None) -> None:
        super().__init__()
        self.say = say  # a line per variant as its environment is ready: the interpreter it runs on
        self.twin: EmbeddedPostgres | None = None  # the side-by-side windows' second server
        self.service, self.repo = service, repo
        # the service's place in the repository, found again in every variant's tree
        self.top = repo or service.folder
        self.relative_root = service.root_path.relative_to(self.top.resolve())
        # a port each: side by side (harness gate) two variants serve at once
        self.variants = [ServiceVariant(source, order, ServiceEdge(service.name, free_port()), Path(), Path())
                         for order, source in enumerate(sources, start=1)]
        self.port = self.variants[0].edge.port  # the set-up commands' {port}
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
                self.say(f"{variant.id}: Python {variant.environment.interpreter.version} "
                         f"({variant.environment.interpreter.path})"
                         + (", its environment reused" if variant.environment.inputs.get("reused") else ""))
            self._check_locustfile()
            self.logs = logs
            stack.callback(self._stop_twin)  # after the run's own server is stopped (a stack unwinds last in first)
            yield stack.enter_context(super().environment(budget, settings, logs))

    def _stop_twin(self) -> None:
        if self.twin is not None:
            self.twin.stop()
            self.twin = None

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
                if self.service.load.sign_up is not None:
                    self._sign_up(variant, with_database(admin_url, variant.template), secret)
            except StageFailed as failed:
                raise UserError(f"variant {failed} (log: {log})") from None
        return {}

    def _sign_up(self, variant: ServiceVariant, template_url: str, secret: str) -> None:
        """The sign-in accounts made through the service's own sign-up route, into the variant's
        template: the service started on it alone, each account sent once, the service stopped (a
        template takes no connection while it is copied)."""
        spec, sign_in = self.service.load.sign_up, self.service.load.sign_in
        assert spec is not None and sign_in is not None
        running = ServiceStage(stage=variant, service=self.service, log_dir=self.logs / f"{variant.id}.sign-up",
                               placement=ServerPlacement(frozenset(os.sched_getaffinity(0))))
        try:
            running.start(template_url, secret, 60.0)
            with httpx.Client(base_url=running.base_url, timeout=60) as client:
                rng = random.Random("sign-up")  # the same {random:…} values for every variant
                for account in range(1, sign_in.accounts + 1):
                    path, body = request_of(spec, rng, account, account)
                    answer = client.request(spec.method, path, **body)
                    # 2xx: made; 400 or 409: there already (a set-up command made it); else misconfigured
                    if not (200 <= answer.status_code < 300 or answer.status_code in (400, 409)):
                        raise StageFailed(f"{variant.id}: sign-up {spec.method} {spec.path} answered "
                                          f"{answer.status_code} for account {account}: {answer.text[:160]}")
        except httpx.HTTPError as broken:
            raise StageFailed(f"{variant.id}: sign-up {spec.path} failed: {type(broken).__name__}") from None
        finally:
            running.stop()

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

    @contextlib.contextmanager
    def side_by_side(self, env: RunEnvironment, rungs: list[Rung], log_dirs: list[Path], start_timeout: float = 60.0,
                     network: NetworkPlan = LOOPBACK) -> Iterator[list[SideServer]]:
        """Every variant of `rungs` serving at once on the budget, each on its own port and its own
        fresh copy of its template; the first on the run's PostgreSQL, the second on a copy of that
        server made at the first such window (`twin`), so each variant's PostgreSQL is a server of
        its own, on the same CPUs. All stopped on the way out, whatever happened."""
        if len(rungs) > 2:
            raise UserError("side by side takes two variants: a base and a candidate")
        if self.twin is None and self.postgres is not None and len(rungs) == 2:
            self.twin = self.postgres.clone()
        servers = [(env.admin_url, env.database_pids),
                   *([(self.twin.url, self.twin.pids)] if self.twin is not None else [])]
        if len(servers) < len(rungs):
            raise UserError("side by side needs the run's own PostgreSQL (not LADDER_DATABASE_URL): each variant "
                            "gets a server of its own")
        with contextlib.ExitStack() as stack:
            started: list[SideServer] = []
            for rung, log_dir, (admin_url, pids) in zip(rungs, log_dirs, servers, strict=False):
                variant = next(v for v in self.variants if v.id == rung.id)
                url = fresh_copy(admin_url, variant.template) if variant.template else None
                running = ServiceStage(stage=variant, service=self.service, log_dir=log_dir, network=network,
                                       wire_cpus=env.budget.load,
                                       placement=env.placement or ServerPlacement(env.budget.server))
                stack.callback(running.stop)
                running.start(url, env.token_secret, start_timeout)
                started.append(SideServer(running, admin_url, pids))
            yield started

    def probe_statements(self, env: RunEnvironment, run_dir: Path, start_timeout: float) -> dict[str, Any]:
        """Each variant's statements per endpoint (harness/service/statements.py) into statements.csv;
        what run.json records of it. A variant that does not start here is left to fail its own
        measurement, with its own line."""
        if self.service.database.kind == "none":
            return {"probed": False, "why": "the service has no database"}
        rows: list[dict[str, Any]] = []
        failed: dict[str, str] = {}
        for variant in self.variants:  # one at a time, each on a fresh copy of its template
            url = fresh_copy(env.admin_url, variant.template) if variant.template else None
            try:
                rows += probe_variant(self.service, variant, env, url, STAGE_DB,
                                      run_dir / "setup" / f"{variant.id}.probe", start_timeout)
            except StageFailed as failed_probe:
                failed[variant.id] = str(failed_probe)
        path = write_statements(run_dir, rows)
        return {"probed": True, "file": path.name, "repeats": REPEATS, "failed": failed}

    def choose_load_path(self, env: RunEnvironment, shape: LoadShape, load_cpus: frozenset[int],
                         out_dir: Path, start_timeout: float = 60.0) -> dict[str, Any]:
        return {"chosen": "loopback", "why": "the service listens on 127.0.0.1; there is no other path"}


@dataclass(frozen=True)
class SideServer:
    """A variant started for a side-by-side window: it, and the PostgreSQL server it alone uses."""
    running: RunningStage
    admin_url: str
    database_pids: Callable[[], list[int]]


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
