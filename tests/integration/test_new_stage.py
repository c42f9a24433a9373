"""A stage is its folder: added to a copy of the project as a folder with its manifest and one
module, with no other edit, every part of the harness sees it — `harness list`, `verify` (a real
PostgreSQL, the stage's services started and checked), `diff`, its Docker build target, the
compose file, and the unit tests that read the ladder."""

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

MANIFEST = '''id = "s9-same-queries"
order = 9
extends = "s8-one-round-trip"
title = "s8's queries, from a module of its own"
fix = "none: the one module re-exports s8's queries"
removes = "nothing"

[adapters]
queries = "stages.s9_same_queries.queries"
'''
MODULE = '''"""s9's queries: s8's, unchanged (the test's stage changes nothing but where they come from)."""
from stages.s8_one_round_trip.queries import *  # noqa: F403
'''


def _project_copy(into: Path) -> Path:
    """The tracked tree, as a fresh clone would have it (the results' charts left out: not needed)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        if name and not name.startswith("results/"):
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            (into / name).write_bytes((REPO / name).read_bytes())
    return into


def test_a_stage_added_as_a_folder_is_seen_everywhere(tmp_path: Path) -> None:
    copy = _project_copy(tmp_path / "project")
    folder = copy / "stages" / "s9_same_queries"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "manifest.toml").write_text(MANIFEST)
    (folder / "queries.py").write_text(MODULE)
    # the copy's own code, not the installed one's
    env = {**os.environ, "PYTHONPATH": str(copy), "COLUMNS": "200", "LADDER_RESULTS_DIR": str(tmp_path / "r")}

    def harness(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=copy, env=env, capture_output=True,
                              text=True, timeout=timeout, check=False)
    listed = harness("list")
    assert listed.returncode == 0 and "s9-same-queries" in listed.stdout, listed.stdout + listed.stderr
    diff = harness("diff", "s8-one-round-trip", "s9-same-queries")
    assert "+++ stages/s9_same_queries/queries.py" in diff.stdout, diff.stdout + diff.stderr
    written = harness("compose")  # the compose file and the Dockerfile, derived from the manifests
    assert written.returncode == 0, written.stderr
    assert "FROM s8-one-round-trip AS s9-same-queries" in (copy / "Dockerfile").read_text()
    assert "s9-same-queries-core-api:" in (copy / "docker-compose.yml").read_text()
    verified = harness("verify", "s8-one-round-trip", "s9-same-queries", timeout=600)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "s9-same-queries: ok" in verified.stdout and "2 stage(s) behave identically" in verified.stdout
    units = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "tests/unit/test_manifest.py::test_discovers_the_ladder_in_order",
                            "tests/unit/test_manifest.py::test_the_rungs_beyond_the_case_study_say_so_and_their_variants"
                            "_inherit_it", "tests/unit/test_cli.py::test_list_prints_the_ladder"],
                           cwd=copy, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert units.returncode == 0 and " passed" in units.stdout, units.stdout[-3000:]
