"""A variant of a service running on this host: one server process (with its workers) on the
budget, PostgreSQL behind the wire at --rtt, the load from the service file's requests or the
user's own locustfile."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from harness.backends.local import HOST, LocalProcesses, port_in_use
from harness.errors import StageFailed
from harness.load.shape import LoadShape, LocustRun, start_locust
from harness.network.emulator import DATABASE_ROUTE
from harness.service.service_file import ServiceFile
from harness.service.setup import command_argv, placeholders, process_env
from harness.service.variant import ServiceVariant

SERVICE_LOCUSTFILE = Path(__file__).resolve().parents[1] / "load" / "service_locustfile.py"
OWN_LOCUSTFILE = Path(__file__).resolve().parents[1] / "load" / "own_locustfile.py"


@dataclass(kw_only=True)
class ServiceStage(LocalProcesses):
    stage: ServiceVariant
    service: ServiceFile
    argv: list[str] | None = None  # as it was started
    extra_env: dict[str, str] | None = None  # the statements probe's (harness/service/statements.py)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.stage.edge.port}"

    def start(self, database_url: str | None, secret: str, timeout: float) -> None:
        """The service on its port, told where its database is (through the wire when there is one)."""
        port = self.stage.edge.port
        if port_in_use(port):
            raise StageFailed(f"{self.stage.id}: port {port} is in use")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if database_url and self.network.on:
            # the service and PostgreSQL are hosts of their own: every connection to it crosses the wire
            parts = urlsplit(database_url)
            wire = self.start_wire({DATABASE_ROUTE: (parts.hostname or HOST, parts.port or 5432)})
            database_url = wire.url(DATABASE_ROUTE, database_url)
        workers = max(1, round(self.service.start.workers_per_cpu * len(self.placement.cpus)))
        values = placeholders(database_url, port, workers, secret)
        env = {**process_env(self.service, self.stage, values), **(self.extra_env or {})}
        self.argv = command_argv(self.service, self.stage, values)
        try:
            self.spawn(self.edge_name, self.argv, env, self.stage.root)
        except OSError as error:
            raise StageFailed(f"{self.stage.id}: cannot start {self.argv[0]}: {error.strerror}") from None
        self.wait_healthy(self.stage.id, {self.edge_name: self.base_url + self.service.start.health},
                          self.service.start.timeout or timeout, field="start.health in the service file")

    @property
    def edge_name(self) -> str:
        return self.stage.edge.name

    def start_load(self, shape: LoadShape, cpus: frozenset[int], out_dir: Path) -> LocustRun:
        """The service file's requests (or the user's locustfile) against the service."""
        env = {"LADDER_CEILING_PATH": self.service.start.health}
        load = self.service.load
        if load.locustfile:
            env["LADDER_OWN_LOCUSTFILE"] = str((self.service.folder / load.locustfile).resolve())
            return start_locust(self.base_url, shape, cpus, out_dir, locustfile=OWN_LOCUSTFILE, env=env)
        spec = out_dir / "service-load.json"
        spec.write_text(json.dumps(load_spec(self.service)))
        env["LADDER_SERVICE_LOAD"] = str(spec)
        return start_locust(self.base_url, shape, cpus, out_dir, locustfile=SERVICE_LOCUSTFILE, env=env)


def load_spec(service: ServiceFile) -> dict[str, object]:
    """The service file's [load] as the service locustfile reads it."""
    load = service.load
    sign_in = load.sign_in.model_dump(by_alias=True) if load.sign_in else None
    return {"sign_in": sign_in,
            "requests": [{**r.model_dump(by_alias=True), "label": r.label()} for r in load.requests]}
