"""Results folders: versioned, self-describing, never overwritten.

results/<UTC timestamp>-<short id>/
  run.json                       what ran, where, under which budget (schema versioned)
  stages/<stage id>/stage.json   status, phases, error; measurement.json; raw locust output;
                                 samples.csv; telemetry.csv; verify.json; logs/; and, once its
                                 window ends, its figures (figures.json, endpoints.csv)
  summary.csv, endpoints.csv     analysis (harness/reporting/analysis.py), from the figures
  *.png, report.md               plots and report, redrawable from the files above
"""

import json
import platform
import secrets
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import upgrade
from harness.errors import UserError
from harness.ownership import owner_record
from harness.paths import REPO_ROOT
from harness.upgrade import SCHEMA_VERSION

PACKAGES = ("fastapi", "uvicorn", "gunicorn", "uvicorn-worker", "sqlalchemy", "psycopg", "asyncpg",
            "httpx", "requests", "locust", "pandas", "matplotlib")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_run_dir(results_dir: Path) -> Path:
    """A fresh folder for one run; refuses to reuse an existing one."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = results_dir / f"{stamp}-{secrets.token_hex(3)}"
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
        (run_dir / ".write-test").write_text("")
        (run_dir / ".write-test").unlink()
    except OSError as exc:
        raise UserError(f"cannot write results to {results_dir}: {exc.strerror or exc}") from None
    return run_dir


def stage_dir(run_dir: Path, stage_id: str) -> Path:
    path = run_dir / "stages" / stage_id
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)  # a crash never leaves half a file


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def git_commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()
    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os
    return {"cpu_model": model, "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version()}


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def run_header(kind: str, backend: str, budget: dict[str, Any]) -> dict[str, Any]:
    """What every run records first: schema, commit, machine, packages, backend, budget."""
    return {"schema_version": SCHEMA_VERSION, "kind": kind, "status": "running", "started_at": utc_now(),
            "git": git_commit(), "machine": machine(), "packages": package_versions(),
            "backend": backend, "budget": budget,
            **owner_record()}  # pid and host: `harness cleanup` tells a live run from a killed one


def load_run(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "run.json"
    if not path.is_file():
        raise UserError(f"{run_dir} is not a results folder (no run.json)")
    data: dict[str, Any] = read_json(path)
    if not 1 <= int(data.get("schema_version") or 0) <= SCHEMA_VERSION:
        raise UserError(f"{run_dir}: results schema {data.get('schema_version')} is not one this harness reads "
                        f"(1 to {SCHEMA_VERSION})")
    return upgrade.run_record(data)


def read_stage(measurement_dir: Path) -> dict[str, Any]:
    """A measurement's stage.json, in today's format (harness.upgrade)."""
    return upgrade.stage_record(read_json(measurement_dir / "stage.json"))


def read_measurement(measurement_dir: Path) -> dict[str, Any]:
    """A measurement's measurement.json, in today's format (harness.upgrade)."""
    return upgrade.measurement_record(read_json(measurement_dir / "measurement.json"))
