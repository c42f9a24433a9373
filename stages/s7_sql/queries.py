"""Data access of s7: the same units of work as s4's, as SQL through asyncpg.

FIX (the ORM on the hot paths): every function s6 ran through SQLAlchemy's ORM is here one or
two statements on the pooled connection, with the domain's rules (passwords, page counts, the
expiry check against the service's clock) still in Python. Reads run as single statements in
autocommit; a write that must be atomic is one statement (the export's side effects, a CTE) or
a transaction. The answers are the same response models as before.
"""

from datetime import UTC, datetime

from asyncpg import Connection, Record

from domain import rules, tokens
from domain.models import (
    DashboardOut,
    ExportCreated,
    ExportOut,
    MeOut,
    PreferencesOut,
    ProfileOut,
    ReportItemOut,
    ReportOut,
    ReportSummary,
    UserSummary,
)

# --- identity -----------------------------------------------------------------------


async def session_user_id(c: Connection, session_id: str, user_id: int) -> int | None:
    """The user of a live, unrevoked session matching the token, else None."""
    row = await c.fetchrow("SELECT user_id, revoked, expires_at FROM sessions WHERE id = $1", session_id)
    if row is None or row["revoked"] or row["user_id"] != user_id:
        return None
    if row["expires_at"] <= datetime.now(UTC):
        return None
    return int(row["user_id"])


async def open_session(c: Connection, email: str, password: str, expires_at: datetime) -> tuple[int, str] | None:
    user = await c.fetchrow("SELECT id, password_hash FROM users WHERE email = $1 LIMIT 1", email)
    if user is None or not tokens.check_password(password, user["password_hash"]):
        return None
    session_id = tokens.new_session_id()
    await c.execute(
        "INSERT INTO sessions (id, user_id, created_at, expires_at, revoked) VALUES ($1, $2, $3, $4, false)",
        session_id, user["id"], datetime.now(UTC), expires_at)
    return int(user["id"]), session_id


async def record_audit(c: Connection, user_id: int, action: str, subject: str) -> None:
    await c.execute("INSERT INTO audit_events (user_id, action, subject, created_at) VALUES ($1, $2, $3, $4)",
                    user_id, action, subject, datetime.now(UTC))


# --- user, profile, preferences ------------------------------------------------------

ME = """
SELECT u.id, u.email, u.name, p.display_name, p.company, p.timezone, p.bio,
       f.theme, f.language, f.email_notifications
FROM users u JOIN profiles p ON p.user_id = u.id JOIN preferences f ON f.user_id = u.id
WHERE u.id = $1
"""


async def me(c: Connection, user_id: int) -> MeOut:
    r = await c.fetchrow(ME, user_id)
    if r is None:
        raise LookupError("user")
    return me_out(r)


def me_out(r: Record) -> MeOut:
    """The answer of /api/me from a row of ME's columns."""
    return MeOut(
        id=r["id"], email=r["email"], name=r["name"],
        profile=ProfileOut(display_name=r["display_name"], company=r["company"], timezone=r["timezone"], bio=r["bio"]),
        preferences=PreferencesOut(theme=r["theme"], language=r["language"],
                                   email_notifications=r["email_notifications"]),
    )


# --- reports and exports -------------------------------------------------------------

DASHBOARD_USER = "SELECT id, name, (SELECT count(*) FROM reports WHERE owner_id = users.id) FROM users WHERE id = $1"
DASHBOARD_REPORTS = """
SELECT r.id, r.title, r.created_at,
       (SELECT count(*) FROM report_items i WHERE i.report_id = r.id) AS item_count,
       (SELECT e.status FROM export_jobs e WHERE e.report_id = r.id ORDER BY e.id DESC LIMIT 1) AS latest_status
FROM reports r WHERE r.owner_id = $1
ORDER BY r.created_at DESC, r.id DESC LIMIT $2
"""


async def dashboard(c: Connection, user_id: int) -> DashboardOut:
    user = await c.fetchrow(DASHBOARD_USER, user_id)
    if user is None:
        raise LookupError("user")
    rows = await c.fetch(DASHBOARD_REPORTS, user_id, rules.DASHBOARD_REPORTS)
    return DashboardOut(
        user=UserSummary(id=user[0], name=user[1], report_count=user[2]),
        reports=[ReportSummary(id=r[0], title=r[1], created_at=r[2], item_count=r[3], latest_export_status=r[4])
                 for r in rows],
    )


# the report and its items in one statement: a report without items still gives its one row
REPORT = """
SELECT r.id, r.owner_id, r.title, r.created_at, i.position, i.label, i.value
FROM reports r LEFT JOIN report_items i ON i.report_id = r.id
WHERE r.id = $1 AND r.owner_id = $2
ORDER BY i.position
"""


async def report_view(c: Connection, user_id: int, report_id: int) -> ReportOut | None:
    rows = await c.fetch(REPORT, report_id, user_id)
    return report_out(rows) if rows else None


def report_out(rows: list[Record]) -> ReportOut:
    """A report from REPORT's rows: its own columns on each, one item per row (none: NULL position)."""
    first = rows[0]
    items = [ReportItemOut(position=r["position"], label=r["label"], value=float(r["value"]))
             for r in rows if r["position"] is not None]
    return ReportOut(id=first["id"], owner_id=first["owner_id"], title=first["title"],
                     created_at=first["created_at"], items=items)


# ownership and the item count the layout needs, in one read
OWNED_ITEM_COUNT = ("SELECT (SELECT count(*) FROM report_items WHERE report_id = reports.id) "
                    "FROM reports WHERE id = $1 AND owner_id = $2")


async def create_export(c: Connection, user_id: int, report_id: int, export_format: str) -> ExportCreated | None:
    item_count = await c.fetchrow(OWNED_ITEM_COUNT, report_id, user_id)
    if item_count is None:
        return None
    return await queue_export(c, user_id, report_id, export_format, item_count[0])


async def queue_export(c: Connection, user_id: int, report_id: int, export_format: str,
                       item_count: int) -> ExportCreated:
    """The job of a report the caller owns, inserted already laid out (s1-s6: inserted, then its
    pages updated, in one transaction)."""
    export_id = await c.fetchval(
        "INSERT INTO export_jobs (report_id, requested_by, format, status, pages, created_at) "
        "VALUES ($1, $2, $3, 'queued', $4, $5) RETURNING id",
        report_id, user_id, export_format, rules.export_pages(item_count), datetime.now(UTC))
    return ExportCreated(id=export_id, status="queued")


# audit, notification and usage: one atomic statement, as the baseline's one transaction
SIDE_EFFECTS = """
WITH audit AS (
  INSERT INTO audit_events (user_id, action, subject, created_at) VALUES ($1, 'export', $2, $5)
), notification AS (
  INSERT INTO notifications (user_id, kind, body, created_at) VALUES ($1, 'export', $3, $5)
)
INSERT INTO usage_records (user_id, metric, quantity, created_at) VALUES ($1, 'export', $4, $5)
"""


async def record_export_side_effects(c: Connection, user_id: int, export_id: int, export_format: str) -> None:
    await c.execute(SIDE_EFFECTS, user_id, f"export:{export_id}",
                    rules.export_notification(export_id, export_format), 1, datetime.now(UTC))


async def export_view(c: Connection, user_id: int, export_id: int) -> ExportOut | None:
    job = await c.fetchrow(
        "SELECT id, report_id, requested_by, format, status, pages, created_at FROM export_jobs WHERE id = $1",
        export_id)
    if job is None or job["requested_by"] != user_id:
        return None
    return export_out(job)


def export_out(job: Record) -> ExportOut:
    return ExportOut(id=job["id"], report_id=job["report_id"], format=job["format"], status=job["status"],
                     pages=job["pages"], created_at=job["created_at"])
