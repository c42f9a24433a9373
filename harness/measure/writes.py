"""Acknowledged writes, accounted: every export the API answered 202 must be in the database.

The load generator records each export's answer; the database is counted before the load and
after it, over a connection to the stage's own database (a read after the window, so it costs
the measurement nothing). An export the server committed but whose answer the generator never
read (in flight when locust stopped) makes `found` exceed `acknowledged`; the reverse is a lost
write and must never happen.
"""

from dataclasses import asdict, dataclass
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
class WriteCounts:
    exports: int
    export_audits: int
    export_notifications: int
    export_usage: int

    def as_record(self) -> dict[str, int]:
        return asdict(self)


def count_writes(admin_url: str, dbname: str = STAGE_DB) -> WriteCounts:
    with psycopg.connect(make_conninfo(admin_url, dbname=dbname), autocommit=True) as conn:
        return WriteCounts(**{name: int(str(conn.execute(query).fetchone()[0]))  # type: ignore[index]
                              for name, query in _COUNTS.items()})


def writes_figures(record: dict[str, Any] | None, samples: pd.DataFrame) -> dict[str, Any]:
    """writes_acknowledged (202s the generator read, the whole stage: sign-in, warm-up, window),
    writes_found (export jobs the load added), writes_lost (acknowledged, not found: must be 0),
    side_effects_lost (found exports without their audit, notification or usage row)."""
    if not record:  # runs from before the accounting
        return {}
    before, after = record["before"], record["after"]
    added = {name: after[name] - before[name] for name in after}
    acknowledged = int(((samples["name"] == EXPORT_SAMPLE) & (samples["ok"] == 1)).sum())
    side_effects = min(added["export_audits"], added["export_notifications"], added["export_usage"])
    return {"writes_acknowledged": acknowledged, "writes_found": added["exports"],
            "writes_lost": max(0, acknowledged - added["exports"]),
            "side_effects_lost": max(0, added["exports"] - side_effects)}
