"""Data access of s8: every read in one round trip, the token's session check inside it.

FIX (a round trip per request too many): s7 checked the token's session in one statement and read
the answer in another (the dashboard in two more). Here each read is one statement that begins
with the caller: a CTE selecting the live session that matches the token (unrevoked, its user,
not expired by the service's clock: the same rule as `session_user_id`), which the read then
takes its user from. Without a live session the read finds nothing; the statement still returns
one row saying so (`live` false), so a dead session (401) stays apart from a missing report (404).

The session check stays in one place: `as_caller` writes it around every read, and a read takes
its caller only from `caller.user_id`, never from a parameter.
"""

from datetime import datetime

from asyncpg import Connection, Record

from domain import rules
from domain.models import (
    DashboardOut,
    ExportCreated,
    ExportOut,
    MeOut,
    ReportOut,
    ReportSummary,
    UserSummary,
)
from domain.tokens import TokenClaims

# unchanged from s7: login (no token yet), the writes, the answers built from a read's rows, and the
# session check alone, which the edge still runs for a request that ends before any read (an unknown
# path, a body that fails validation)
from stages.s7_sql.queries import (
    export_out,
    me_out,
    open_session,
    queue_export,
    record_audit,
    record_export_side_effects,
    report_out,
    session_user_id,
)

__all__ = ["SessionEnded", "create_export", "dashboard", "export_view", "me", "open_session",
           "record_audit", "record_export_side_effects", "report_view", "session_user_id"]

# $1 the token's session id, $2 its user, $3 the service's clock; a read's own parameters follow
CALLER = "SELECT user_id FROM sessions WHERE id = $1 AND user_id = $2 AND NOT revoked AND expires_at > $3"


class SessionEnded(Exception):
    """The token's session is revoked, expired or not the token's user's: the request is a 401."""


def as_caller(read: str, order_by: str = "") -> str:
    """`read` (which names its user `caller.user_id`) run for a live session only: its rows, each
    with `live` true, or one row with `live` false. Without rows of its own, one row of NULLs."""
    return (f"WITH caller AS ({CALLER}) "
            f"SELECT caller.user_id IS NOT NULL AS live, q.* FROM (SELECT 1) AS one "
            f"LEFT JOIN caller ON true LEFT JOIN LATERAL ({read}) AS q ON true {order_by}")


async def _fetch(c: Connection, sql: str, claims: TokenClaims, now: datetime, *args: object) -> list[Record]:
    rows: list[Record] = await c.fetch(sql, claims.session_id, claims.user_id, now, *args)
    if not rows[0]["live"]:
        raise SessionEnded
    return rows


ME = as_caller("""
SELECT u.id, u.email, u.name, p.display_name, p.company, p.timezone, p.bio,
       f.theme, f.language, f.email_notifications
FROM users u JOIN profiles p ON p.user_id = u.id JOIN preferences f ON f.user_id = u.id
WHERE u.id = caller.user_id
""")


async def me(c: Connection, claims: TokenClaims, now: datetime) -> MeOut:
    r = (await _fetch(c, ME, claims, now))[0]
    if r["id"] is None:
        raise LookupError("user")
    return me_out(r)


# the user's summary on every row of its latest reports (s7: two statements, after the session's)
DASHBOARD = as_caller("""
SELECT u.id AS user_id, u.name, (SELECT count(*) FROM reports WHERE owner_id = u.id) AS report_count,
       r.id, r.title, r.created_at, r.item_count, r.latest_status
FROM users u LEFT JOIN LATERAL (
  SELECT r.id, r.title, r.created_at,
         (SELECT count(*) FROM report_items i WHERE i.report_id = r.id) AS item_count,
         (SELECT e.status FROM export_jobs e WHERE e.report_id = r.id ORDER BY e.id DESC LIMIT 1) AS latest_status
  FROM reports r WHERE r.owner_id = u.id
  ORDER BY r.created_at DESC, r.id DESC LIMIT $4
) AS r ON true
WHERE u.id = caller.user_id
""", "ORDER BY q.created_at DESC, q.id DESC")


async def dashboard(c: Connection, claims: TokenClaims, now: datetime) -> DashboardOut:
    rows = await _fetch(c, DASHBOARD, claims, now, rules.DASHBOARD_REPORTS)
    first = rows[0]
    if first["user_id"] is None:
        raise LookupError("user")
    return DashboardOut(
        user=UserSummary(id=first["user_id"], name=first["name"], report_count=first["report_count"]),
        reports=[ReportSummary(id=r["id"], title=r["title"], created_at=r["created_at"], item_count=r["item_count"],
                               latest_export_status=r["latest_status"])
                 for r in rows if r["id"] is not None],
    )


REPORT = as_caller("""
SELECT r.id, r.owner_id, r.title, r.created_at, i.position, i.label, i.value
FROM reports r LEFT JOIN report_items i ON i.report_id = r.id
WHERE r.id = $4 AND r.owner_id = caller.user_id
""", "ORDER BY q.position")


async def report_view(c: Connection, claims: TokenClaims, now: datetime, report_id: int) -> ReportOut | None:
    rows = await _fetch(c, REPORT, claims, now, report_id)
    return None if rows[0]["id"] is None else report_out(rows)


OWNED_ITEM_COUNT = as_caller("""
SELECT (SELECT count(*) FROM report_items WHERE report_id = reports.id) AS item_count
FROM reports WHERE id = $4 AND owner_id = caller.user_id
""")


async def create_export(c: Connection, claims: TokenClaims, now: datetime, report_id: int,
                        export_format: str) -> ExportCreated | None:
    """The export's first read is the session, the report's owner and its item count in one."""
    item_count: int | None = (await _fetch(c, OWNED_ITEM_COUNT, claims, now, report_id))[0]["item_count"]
    if item_count is None:
        return None
    return await queue_export(c, claims.user_id, report_id, export_format, item_count)


EXPORT = as_caller("""
SELECT id, report_id, format, status, pages, created_at FROM export_jobs
WHERE id = $4 AND requested_by = caller.user_id
""")


async def export_view(c: Connection, claims: TokenClaims, now: datetime, export_id: int) -> ExportOut | None:
    job = (await _fetch(c, EXPORT, claims, now, export_id))[0]
    return None if job["id"] is None else export_out(job)
