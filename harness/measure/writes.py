"""Acknowledged writes, accounted: every write the API acknowledged must be in the database —
for the ladder every export answered 202, for a service the 2xx answers of its requests marked
`write = true` against the rows its SQL count finds.

The load generator records each write's answer; the database is counted before the load and
after it, over a connection to the stage's own database (a read after the window, so it costs
the measurement nothing). A write the server committed but whose answer the generator never
read (in flight when locust stopped) makes `found` exceed `acknowledged`; the reverse is a lost
write and must never happen.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import psycopg
from psycopg.conninfo import make_conninfo

from harness.backends.postgres import STAGE_DB

EXPORT_SAMPLE = "/api/reports/[id]/export"  # the locustfile's name for POST /api/reports/{id}/export
# the rows one acknowledged export leaves behind, in every stage (domain: record_export_side_effects)
_COUNTS = {
    "exports": "SELECT count(*) FROM export_jobs",
    "export_audits": "SELECT count(*) FROM audit_events WHERE action = 'export'",
    "export_notifications": "SELECT count(*) FROM notifications WHERE kind = 'export'",
    "export_usage": "SELECT count(*) FROM usage_records WHERE metric = 'export'",
}


@dataclass(frozen=True)
class WritesRule:
    """Which answers are acknowledged writes (their sample names; an answered, not failed, one
    counts) and the rows they must leave: `counts`' first query finds the writes themselves, any
    other the side effects each write must have left too. No counts: nothing is accounted."""
    acknowledged_by: tuple[str, ...]
    counts: Mapping[str, str]

    def count(self, admin_url: str, dbname: str = STAGE_DB) -> dict[str, int]:
        if not self.counts:
            return {}
        with psycopg.connect(make_conninfo(admin_url, dbname=dbname), autocommit=True) as conn:
            return {name: int(str(conn.execute(query.encode()).fetchone()[0]))  # type: ignore[index]
                    for name, query in self.counts.items()}

    def record(self, before: dict[str, int], after: dict[str, int]) -> dict[str, Any] | None:
        """What measurement.json keeps: both counts, and which requests acknowledged writes."""
        if not self.counts:
            return None
        return {"before": before, "after": after, "acknowledged_by": list(self.acknowledged_by)}


LADDER_WRITES = WritesRule((EXPORT_SAMPLE,), _COUNTS)


def writes_figures(record: dict[str, Any] | None, samples: pd.DataFrame) -> dict[str, Any]:
    """writes_acknowledged (answers the generator read, the whole stage: sign-in, warm-up, window),
    writes_found (rows the load added), writes_lost (acknowledged, not found: must be 0),
    side_effects_lost (found writes without a side effect's row; none where there are none)."""
    if not record:  # nothing accounted: no rule for this subject
        return {}
    before, after = record["before"], record["after"]
    added = {name: after[name] - before[name] for name in after}
    found, *side = list(added)
    acknowledged = int((samples["name"].isin(record.get("acknowledged_by", [EXPORT_SAMPLE]))
                        & (samples["ok"] == 1)).sum())
    return {"writes_acknowledged": acknowledged, "writes_found": added[found],
            "writes_lost": max(0, acknowledged - added[found]),
            "side_effects_lost": max(0, added[found] - min(added[s] for s in side)) if side else 0}
