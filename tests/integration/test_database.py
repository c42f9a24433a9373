"""Every stage's database is a copy of one seeded template, in the same physical state."""

import psycopg

from harness.backends.base import stage_database
from harness.backends.local import run_environment
from harness.cpu import CpuBudget
from harness.manifests.manifest import discover
from harness.settings import HarnessSettings


def test_every_copy_starts_vacuumed_so_autovacuum_has_nothing_to_do_in_a_window() -> None:
    (manifest,) = [s for s in discover() if s.id == "s4-queries"]
    with run_environment(CpuBudget.default(), HarnessSettings()) as env:
        url = stage_database(env, manifest)
        with psycopg.connect(url) as conn:
            pages = conn.execute(
                "SELECT relname, relpages, relallvisible FROM pg_class "
                "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace AND relpages > 0").fetchall()
    assert {name for name, _, _ in pages} >= {"users", "reports", "report_items", "export_jobs"}
    # all-visible from the start: without the template's VACUUM, users (1,000 rows, under
    # autovacuum's insert threshold) stayed 0 of 21 pages
    assert [(name, visible) for name, total, visible in pages if visible != total] == []
