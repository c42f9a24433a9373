"""Shared fixtures. Integration tests use the real PostgreSQL the harness starts; there
is no skip when it is missing: in CI a missing database is a failure."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# the installed console script, what users run (make bench, the README): not `python -m harness.cli`,
# which once took another entry point than the script and hid that the script skipped main()
HARNESS = [str(Path(sys.executable).with_name("harness"))]


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
