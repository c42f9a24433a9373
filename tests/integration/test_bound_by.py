"""docs/harness.md's own-variant example, run as written: a variant whose internal calls wait on a
slow dependency leaves its budget idle, and the harness calls it `waiting`, with its evidence.

This is the condition under which the ladder's numbers stop meaning "what the code costs";
the verdict must name it. The example is read from the doc, so the doc cannot drift.
"""

import os
import re
import subprocess
from pathlib import Path

import pandas as pd

from tests.conftest import REPO

MARK = "<!-- example: own-variant -->"


def readme_example() -> str:
    text = (REPO / "docs" / "harness.md").read_text()
    block = re.search(re.escape(MARK) + r"\n```bash\n(.*?)\n```", text, re.S)
    assert block, "docs/harness.md lost its own-variant example"
    return block.group(1)


def test_the_docs_own_variant_runs_as_written_and_is_bound_by_waiting(tmp_path: Path) -> None:
    results = tmp_path / "results"
    env = {**os.environ, "HOME": str(tmp_path), "LADDER_RESULTS_DIR": str(results), "COLUMNS": "200"}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", readme_example()], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = list(results.iterdir())
    summary = pd.read_csv(run / "summary.csv").set_index("stage")
    slow, s3 = summary.loc["s9-slowdep"], summary.loc["s3-pooled"]
    assert slow["bound_by"] == "waiting", slow.to_dict()
    # the quick load's 20 users, each request ≥ 1 s: at most 20 req/s, with the budget left idle
    assert slow["rps"] <= 21 and slow["rps"] < s3["rps"], (slow.to_dict(), s3.to_dict())
    assert slow["server_busy_pct"] < 90
    assert slow["busiest_service"] in {"core-api", "identity", "user", "jobs"}
    line = next(line for line in done.stdout.splitlines() if "s9-slowdep:" in line)
    assert "bound by waiting (budget" in line and "edge accept queue" in line, line
    assert "Bound by waiting, with CPU to spare" in (run / "report.md").read_text()
