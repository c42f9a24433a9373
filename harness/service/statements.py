"""Statements per endpoint, exact, with the line that issued each: before any window, each variant
started alone on a fresh copy of its template, its Python told to mark every statement with its
call site (harness/service/sites, for this start only), then each request of the load and of
[[verify]] sent alone, REPEATS times, with pg_stat_statements read around it. What a request runs
is then counted, not divided out of a window: an N+1 shows as its statement with 20 calls per
request on the listing, and the line of the list comprehension that issued it.

Written to statements.csv: variant, endpoint, statement, calls per request, mean ms, call site.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from harness.backends.base import RunEnvironment
from harness.cpu import ServerPlacement
from harness.errors import StageFailed
from harness.measure.statements import ran_between, read_statements
from harness.reporting.statements import STATEMENTS_CSV
from harness.service.running import ServiceStage
from harness.service.service_file import LoadRequest, ServiceFile, VerifyRequest
from harness.service.variant import ServiceVariant
from harness.service.verify import ServiceScript
from harness.verify.script import Transcript

SITES = Path(__file__).resolve().parent / "sites"
# each request sent this many times: a statement run once per request shows 1.0, one cached after
# the first request shows its share
REPEATS = 3
# what the column says where no site could be found: PostgreSQL's own check of a foreign key (a
# nested statement pg_stat_statements also counts), or a statement no SQLAlchemy engine sent
FOREIGN_KEY_CHECK = "PostgreSQL's own (a foreign key's check)"
NO_SITE = "not found (no SQLAlchemy engine issued it)"


def _no_site(text: str) -> str:
    return FOREIGN_KEY_CHECK if text.startswith("SELECT $") and text.endswith("FOR KEY SHARE OF x") else NO_SITE
COLUMNS = ["variant", "endpoint", "statement", "calls_per_request", "mean_ms", "call_site"]


def probe_variant(service: ServiceFile, variant: ServiceVariant, env: RunEnvironment, database_url: str | None,
                  database: str, log_dir: Path, timeout: float) -> list[dict[str, Any]]:
    """The variant's statements per endpoint (rows of statements.csv); none without a database."""
    if database_url is None:
        return []
    marked = {"PYTHONPATH": f"{SITES}:{variant.root}", "LADDER_SITES_ROOT": str(variant.tree)}
    running = ServiceStage(stage=variant, service=service, log_dir=log_dir, extra_env=marked,
                           placement=env.placement or ServerPlacement(env.budget.server))
    rows: list[dict[str, Any]] = []
    try:
        running.start(database_url, env.token_secret, timeout)
        with httpx.Client(base_url=running.base_url, timeout=60) as client:
            script = ServiceScript(client, service)
            if service.load.sign_in is not None:
                script.sign_in(service.load.sign_in, Transcript(variant.id))
            seen: set[str] = set()
            requests: list[LoadRequest | VerifyRequest] = [*service.load.requests, *service.verify]
            for request in requests:
                label = request.label()
                if label in seen:
                    continue
                seen.add(label)
                headers = script.headers if not isinstance(request, VerifyRequest) or request.signed_in else {}
                before = read_statements(env.admin_url, database)
                for _ in range(REPEATS):
                    script.send(request, headers)
                ran = ran_between(before, read_statements(env.admin_url, database))
                rows += [{"variant": variant.id, "endpoint": label, "statement": s.text,
                          "calls_per_request": round(s.calls / REPEATS, 3),
                          "mean_ms": round(s.total_ms / s.calls, 4), "call_site": s.site or _no_site(s.text)}
                         for s in ran.values()]
    except httpx.HTTPError as broken:
        raise StageFailed(f"{variant.id}: the statements probe failed: {type(broken).__name__}: {broken}",
                          running.logs()) from None
    finally:
        with contextlib.suppress(Exception):
            running.stop()
    return rows


def write_statements(run_dir: Path, rows: list[dict[str, Any]]) -> Path:
    path = run_dir / STATEMENTS_CSV
    pd.DataFrame(rows, columns=COLUMNS).sort_values(["endpoint", "variant", "calls_per_request"],
                                                   ascending=[True, True, False]).to_csv(path, index=False)
    return path
