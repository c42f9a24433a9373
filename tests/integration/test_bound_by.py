"""A real run of a variant that leaves its budget idle is called `waiting`, with its evidence.

The variant is s3-pooled with one change: every internal call sleeps first (a dependency that
answers slowly without using CPU) — the condition under which the ladder's numbers stop meaning
"what the code costs", which the verdict must name.
"""

import textwrap
from pathlib import Path

import pandas as pd

from tests.conftest import REPO, run_harness

SLOW_RPC = '''
"""s3's rpc adapter behind a slow dependency: every call waits 1 s first, using no CPU."""
import asyncio
from typing import Any

from stages.s3_pooled import rpc


async def call(service: str, method: str, path: str, **kwargs: Any) -> Any:
    await asyncio.sleep(1.0)
    return await rpc.call(service, method, path, **kwargs)
'''


def _sleeping_variant(root: Path) -> Path:
    variants = root / "variants"
    package = variants / "sleepy"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "rpc.py").write_text(SLOW_RPC)
    manifest = (REPO / "stages" / "s3_pooled" / "manifest.toml").read_text()
    manifest = manifest.replace('id = "s3-pooled"', 'id = "s9-sleepy"').replace("order = 3", "order = 9")
    manifest = manifest.replace('rpc = "stages.s3_pooled.rpc"', 'rpc = "sleepy.rpc"')
    (package / "manifest.toml").write_text(manifest)
    return variants


def test_a_stage_that_sleeps_on_its_dependency_is_bound_by_waiting(results_dir: Path, tmp_path: Path) -> None:
    variants = _sleeping_variant(tmp_path)
    done = run_harness("run-all", "--backend", "local", "--rtt", "0", "--no-same-traffic", "--no-ceiling",
                       "--users", "20", "--warmup", "2", "--duration", "10", "--stages", "s9-sleepy",
                       env={"LADDER_RESULTS_DIR": str(results_dir), "LADDER_EXTRA_STAGES": str(variants)},
                       timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = list(results_dir.iterdir())
    row = pd.read_csv(run / "summary.csv").set_index("stage").loc["s9-sleepy"]
    assert row["bound_by"] == "waiting", row.to_dict()
    # 20 users, each request ≥ 1 s: at most 20 req/s, far below what the budget can serve
    assert row["rps"] <= 21 and row["server_busy_pct"] < 75, row.to_dict()
    assert row["busiest_service"] in {"core-api", "identity", "user", "jobs"}
    line = textwrap.dedent(done.stdout)
    assert "s9-sleepy" in line and "bound by waiting (budget" in line and "edge accept queue" in line, line
    report = (run / "report.md").read_text()
    assert "waiting" in report
