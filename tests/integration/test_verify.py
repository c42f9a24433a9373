"""`harness verify` on the whole ladder against a real PostgreSQL (started by the harness): the
request script, the mechanism counters, and the public API under schemathesis, in one pass."""

import re

from harness.manifests.manifest import discover
from tests.conftest import run_harness


def _counter(output: str, stage: str, endpoint: str) -> tuple[float, float, float]:
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
        if len(cells) >= 5 and cells[0] == stage and cells[1] == endpoint:
            return float(cells[2]), float(cells[3]), float(cells[4])
    raise AssertionError(f"no counters for {stage} {endpoint} in:\n{output}")


def _blocked(output: str, stage: str) -> float:
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line)]
        cells = cells[1:-1] if len(cells) > 2 else cells
        if len(cells) >= 6 and cells[0] == stage and cells[1] == "dashboard":
            return float(cells[5])
    raise AssertionError(f"no loop-blocked figure for {stage} in:\n{output}")


def test_verify_passes_for_the_whole_ladder_with_the_expected_mechanisms() -> None:
    done = run_harness("verify", "--fuzz", "3", timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    ladder = [s.id for s in discover()]  # as the manifests say
    assert f"{len(ladder)} stage(s) behave identically" in done.stdout
    # every stage held under the fuzzer: no 5xx, every answer as its schema declares
    for stage in ladder:
        line = next(line for line in done.stdout.splitlines() if line.startswith(f"{stage}:"))
        assert re.search(r"ok \(fuzz: (\d+) generated, \1 passed\)", line), line
    # s2's claim: the edge's event loop no longer blocks while it waits (s1's still does)
    assert _blocked(done.stdout, "s1-consolidated") >= 0.5 > _blocked(done.stdout, "s2-async")
    hops, sessions, statements = _counter(done.stdout, "s0-baseline", "dashboard")
    assert hops >= 4 and sessions >= 3 and statements >= 11
    assert _counter(done.stdout, "s1-consolidated", "dashboard")[0] <= 1
    assert _counter(done.stdout, "s3-pooled", "dashboard")[1] <= 0.2
    s3_statements = _counter(done.stdout, "s3-pooled", "dashboard")[2]
    s4_statements = _counter(done.stdout, "s4-queries", "dashboard")[2]
    assert s3_statements >= 11 and s4_statements <= 3
    # s6's fix: no internal HTTP request on any endpoint (were s6's edge to call a service again, its
    # hop header would count it); s5 still makes one per API call
    endpoints = ("login", "me", "dashboard", "report", "export create", "export status")
    assert all(_counter(done.stdout, "s5-optimized", e)[0] == 1 for e in endpoints)
    assert all(_counter(done.stdout, "s6-one-deployable", e)[0] == 0 for e in endpoints)
    # s7's fix: SQL instead of the ORM — the report with its items in one statement (the ORM's eager
    # load takes two) and the export in a handful (the ORM's unit of work in s6: 14), the token's one included
    assert _counter(done.stdout, "s6-one-deployable", "report")[2] == 3
    assert _counter(done.stdout, "s7-sql", "report")[2] == 2
    assert _counter(done.stdout, "s6-one-deployable", "export create")[2] >= 2 * _counter(
        done.stdout, "s7-sql", "export create")[2]
    # s8's fix: every read one statement, the token's session checked inside it (s7: one more each,
    # and the dashboard's two reads); a 401 for a dead session on every route is verify's own step
    reads = ("me", "dashboard", "report", "export status")
    assert [_counter(done.stdout, "s7-sql", e)[2] for e in reads] == [2, 3, 2, 2]
    assert [_counter(done.stdout, "s8-one-round-trip", e)[2] for e in reads] == [1, 1, 1, 1]
