"""A service of your own as a run's subject (harness.runs.subject): its variants verified by its
own requests, its writes accounted by its own count, its load from its own file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from harness.backends.base import RunEnvironment
from harness.manifests.rung import Rung
from harness.measure.writes import WritesRule
from harness.service.service_file import ServiceFile
from harness.service.verify import ServiceScript
from harness.verify.script import Transcript


class ServiceSubject:
    def __init__(self, service: ServiceFile, file: Path, repo: Path | None) -> None:
        self.service, self.file, self.repo = service, file, repo
        self.writes = WritesRule(tuple(service.writes_acknowledged_by()), {"rows": service.writes.count}) \
            if service.writes else WritesRule((), {})
        self.mix = "own" if service.load.locustfile else "service"

    def transcript(self, client: httpx.Client, env: RunEnvironment, rung: Rung) -> Transcript:
        return ServiceScript(client, self.service).run(rung.id)

    def before_windows(self, backend: Any, env: RunEnvironment, run_dir: Path, start_timeout: float) -> dict[str, Any]:
        """Each variant's statements per endpoint, before any window (harness/service/statements.py)."""
        return dict(backend.probe_statements(env, run_dir, start_timeout))

    def record(self) -> dict[str, Any]:
        service = self.service
        return {"service": {
            "name": service.name, "file": str(self.file), "repository": str(self.repo) if self.repo else None,
            "root": service.root, "database": service.database.kind, "setup": service.database.setup,
            "start": service.start.model_dump(exclude_none=True),
            "load": "own locustfile " + str(service.load.locustfile) if service.load.locustfile else
            f"{len(service.load.requests)} weighted requests" + (", signed in" if service.load.sign_in else ""),
            "writes": {"count": service.writes.count, "acknowledged_by": service.writes_acknowledged_by()}
            if service.writes else None,
            # the names of the variables the service is given; their values (a password, a secret) never
            "env": sorted(service.env),
        }}
