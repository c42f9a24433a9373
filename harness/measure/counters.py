"""Mechanism counters read from PostgreSQL's statistics.

Read over an admin connection to the `postgres` database, so the reading itself is not
counted against the stage database.
"""

import time
from dataclasses import asdict, dataclass

from harness.backends.postgres import STAGE_DB, admin

# PostgreSQL flushes a backend's pending statistics at the latest this long after its
# last transaction; ended backends flush at exit.
STATS_FLUSH_SECONDS = 1.1


@dataclass(frozen=True)
class DbCounters:
    sessions: int
    xact_commit: int
    statements: int | None  # None where pg_stat_statements is not available

    def minus(self, earlier: "DbCounters") -> "DbCounters":
        statements = (None if self.statements is None or earlier.statements is None
                      else self.statements - earlier.statements)
        return DbCounters(self.sessions - earlier.sessions,
                          self.xact_commit - earlier.xact_commit, statements)

    def as_record(self) -> dict[str, int | None]:
        return asdict(self)


def read_counters(admin_url: str, dbname: str = STAGE_DB) -> DbCounters:
    with admin(admin_url) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT sessions, xact_commit FROM pg_stat_database WHERE datname = %s", (dbname,)
        ).fetchone()
        sessions, commits = (int(str(row[0])), int(str(row[1]))) if row else (0, 0)
        try:
            found = conn.execute(
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s "
                "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s", (dbname,)
            ).fetchone()
            statements: int | None = int(str(found[0])) if found else 0
        except Exception:  # the extension is missing on an external server
            statements = None
    return DbCounters(sessions, commits, statements)


def settled_counters(admin_url: str) -> DbCounters:
    time.sleep(STATS_FLUSH_SECONDS)
    return read_counters(admin_url)
