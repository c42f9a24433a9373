"""The statements a database ran, as pg_stat_statements counts them: per normalized statement,
its calls and time so far. Two readings around requests sent one at a time give each request's
statements exactly (harness/service/statements.py), with the site that issued each where the
service's Python marked it (harness/service/sites)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.backends.postgres import admin

SITE = re.compile(r"^\s*/\* ladder-site: (.*?) \*/\s*", re.S)


@dataclass(frozen=True)
class Statement:
    text: str  # normalized ($1 for every constant), the site's comment taken off
    site: str | None  # 'notes/listing.py:9 latest_notes', or None where none was marked
    calls: int
    total_ms: float


def read_statements(admin_url: str, database: str) -> dict[int, Statement]:
    """Every statement `database` has run so far, by pg_stat_statements' queryid."""
    with admin(admin_url) as conn:
        rows = conn.execute("SELECT queryid, query, calls, total_exec_time FROM pg_stat_statements s "
                            "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s", (database,)).fetchall()
    out = {}
    for queryid, query, calls, total in rows:
        text = str(query)
        found = SITE.match(text)
        site = found.group(1) if found else None
        normalized = " ".join(SITE.sub("", text).split())
        out[int(str(queryid))] = Statement(normalized, site, int(str(calls)), float(str(total)))
    return out


def ran_between(before: dict[int, Statement], after: dict[int, Statement]) -> dict[int, Statement]:
    """What ran between two readings: each statement's calls and time in between."""
    out = {}
    for queryid, now in after.items():
        then = before.get(queryid)
        calls = now.calls - (then.calls if then else 0)
        if calls > 0:
            out[queryid] = Statement(now.text, now.site, calls, now.total_ms - (then.total_ms if then else 0.0))
    return out
