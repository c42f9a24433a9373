"""Shared fixtures. Integration tests use the real PostgreSQL the harness starts; there
is no skip when it is missing: in CI a missing database is a failure."""

import json
import os
import subprocess
import sys
from pathlib import Path

import docker
import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
# the installed console script, what users run (make bench, the README): not `python -m harness.cli`,
# which once took another entry point than the script and hid that the script skipped main()
HARNESS = [str(Path(sys.executable).with_name("harness"))]


NOTHING_LEFT: dict[str, list[str]] = {"services": [], "secrets": [], "containers": [], "networks": [], "volumes": []}


def owned_left(engine: docker.DockerClient) -> dict[str, list[str]]:
    """What carries a run's label on this engine (its services and secrets only where it is a
    swarm manager: a worker cannot list them)."""
    owned = {"label": "ladder.run"}
    manager = (engine.info().get("Swarm") or {}).get("ControlAvailable")
    return {"services": [s.name for s in engine.services.list(filters=owned)] if manager else [],
            "secrets": [s.name for s in engine.secrets.list(filters=owned)] if manager else [],
            "containers": [c.name for c in engine.containers.list(all=True, filters=owned)],
            "networks": [n.name for n in engine.networks.list(filters=owned)],
            "volumes": [v.name for v in engine.volumes.list(filters=owned)]}


def run_harness(*args: str, env: dict[str, str] | None = None,
                timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """The CLI through its real entry point, in a subprocess."""
    return subprocess.run([*HARNESS, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200", **(env or {})}, check=False)


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    path = tmp_path / "results"
    path.mkdir()
    return path


def leftover_processes() -> list[str]:
    """Processes a run starts that outlived it: services, locust, PostgreSQL, watchers, profilers."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if ("uvicorn" in cmd and ".services." in cmd) or "gunicorn" in cmd or "locustfile.py" in cmd \
                or "ladder-pg-" in cmd or "harness.measure.host_speed" in cmd or "py-spy" in cmd:
            found.append(f"{proc.info['pid']}: {cmd[:120]}")
    return found


def stage_phase(results: Path, measurement: str) -> str | None:
    """The phase a run in `results` wrote for `measurement` (stage.json is written whole, by rename),
    or None before it has one."""
    path = next(results.glob(f"*/stages/{measurement}/stage.json"), None)
    return str(json.loads(path.read_text()).get("phase")) if path else None
