"""Mechanism counters read from PostgreSQL's statistics.

Read over an admin connection to the `postgres` database, so the reading itself is not
counted against the stage database.

When each counter is current, which decides what a reading right after a request may use:
- statements (`pg_stat_statements`): written to shared memory as each statement ends;
- sessions (`pg_stat_database.sessions`): counted when a new backend first goes idle, before it
  runs its first query, so before any answer that used it;
- transactions (`xact_commit`): deferred — a busy backend flushes them at most once a second, an
  idle one later still. Only a window's totals use them, where the defer is a sliver of the window.
"""

from dataclasses import asdict, dataclass

from harness.backends.postgres import STAGE_DB, admin


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
