"""Naive ORM data access, as the baseline wrote it.

ANTI-PATTERN (N+1): relationships load lazily, so every `report.items`, `user.profile`
or per-id `session.get` inside a loop is one more round trip. stages/s4_queries
replaces the composite reads at the bottom with joined / eager loads.

Every function takes the unit of work's Session first; the db adapter decides whether it
runs on a blocking driver or on asyncpg (through AsyncSession.run_sync).
"""

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain import rules, tokens
from domain.models import (
    ExportOut,
    PreferencesOut,
    ProfileOut,
    ReportItemOut,
    ReportOut,
    UserSummary,
)
from domain.schema import (
    AuditEvent,
    ExportJob,
    Notification,
    Report,
    UsageRecord,
    User,
)
from domain.schema import Session as LoginSession

# --- identity -----------------------------------------------------------------------


def session_user_id(s: Session, session_id: str, user_id: int) -> int | None:
    """The user of a live, unrevoked session matching the token, else None."""
    row = s.get(LoginSession, session_id)
    if row is None or row.revoked or row.user_id != user_id:
        return None
    if row.expires_at <= datetime.now(UTC):
        return None
    return row.user_id


def login_user_id(s: Session, email: str, password: str) -> int | None:
    user = s.scalars(select(User).where(User.email == email)).first()
    if user is None or not tokens.check_password(password, user.password_hash):
        return None
    return user.id


def create_session(s: Session, user_id: int, expires_at: datetime) -> str:
    session_id = tokens.new_session_id()
    s.add(LoginSession(id=session_id, user_id=user_id, created_at=datetime.now(UTC),
                       expires_at=expires_at, revoked=False))
    return session_id


# --- user, profile, preferences ------------------------------------------------------


def user_basics(s: Session, user_id: int) -> dict[str, object]:
    user = s.get(User, user_id)
    if user is None:
        raise LookupError("user")
    return {"id": user.id, "email": user.email, "name": user.name}


def profile(s: Session, user_id: int) -> ProfileOut:
    user = s.get(User, user_id)
    assert user is not None
    p = user.profile  # lazy load: one more query
    return ProfileOut(display_name=p.display_name, company=p.company, timezone=p.timezone, bio=p.bio)


def preferences(s: Session, user_id: int) -> PreferencesOut:
    user = s.get(User, user_id)
    assert user is not None
    p = user.preferences  # lazy load: one more query
    return PreferencesOut(theme=p.theme, language=p.language, email_notifications=p.email_notifications)


def user_summary(s: Session, user_id: int) -> UserSummary:
    user = s.get(User, user_id)
    assert user is not None
    # loads every report row just to count them
    return UserSummary(id=user.id, name=user.name, report_count=len(user.reports))


# --- reports and exports -------------------------------------------------------------


def latest_report_ids(s: Session, user_id: int, limit: int = rules.DASHBOARD_REPORTS) -> list[int]:
    stmt = (
        select(Report.id)
        .where(Report.owner_id == user_id)
        .order_by(Report.created_at.desc(), Report.id.desc())
        .limit(limit)
    )
    return list(s.scalars(stmt))


def report_summaries(s: Session, report_ids: list[int]) -> list[dict[str, object]]:
    out = []
    for report_id in report_ids:
        report = s.get(Report, report_id)  # one query per id
        assert report is not None
        out.append({"id": report.id, "title": report.title, "created_at": report.created_at,
                    "item_count": len(report.items)})  # lazy load: one query per report
    return out


def export_statuses(s: Session, report_ids: list[int]) -> dict[int, str | None]:
    statuses: dict[int, str | None] = {}
    for report_id in report_ids:  # one query per report
        stmt = select(ExportJob.status).where(ExportJob.report_id == report_id)
        statuses[report_id] = s.scalars(stmt.order_by(ExportJob.id.desc()).limit(1)).first()
    return statuses


def owned_report(s: Session, user_id: int, report_id: int) -> Report | None:
    report = s.get(Report, report_id)
    if report is None or report.owner_id != user_id:
        return None
    return report


def owned_report_id(s: Session, user_id: int, report_id: int) -> int | None:
    report = owned_report(s, user_id, report_id)
    return None if report is None else report.id


def report_view(s: Session, user_id: int, report_id: int) -> ReportOut | None:
    report = owned_report(s, user_id, report_id)
    if report is None:
        return None
    return ReportOut(
        id=report.id, owner_id=report.owner_id, title=report.title, created_at=report.created_at,
        items=[ReportItemOut(position=i.position, label=i.label, value=i.value)
               for i in report.items],  # lazy load
    )


def insert_export(s: Session, user_id: int, report_id: int, export_format: str) -> int:
    job = ExportJob(report_id=report_id, requested_by=user_id, format=export_format,
                    status="queued", pages=None, created_at=datetime.now(UTC))
    s.add(job)
    s.flush()
    return job.id


def render_export(s: Session, export_id: int) -> int:
    """Lay out the export: count the report's items, store the page count."""
    job = s.get(ExportJob, export_id)
    assert job is not None
    report = s.get(Report, job.report_id)
    assert report is not None
    job.pages = rules.export_pages(len(report.items))  # lazy load
    return job.pages


def export_view(s: Session, user_id: int, export_id: int) -> ExportOut | None:
    job = s.get(ExportJob, export_id)
    if job is None or job.requested_by != user_id:
        return None
    return ExportOut(id=job.id, report_id=job.report_id, format=job.format, status=job.status,
                     pages=job.pages, created_at=job.created_at)


# --- the scattered rest: audit, notifications, billing -------------------------------


def record_audit(s: Session, user_id: int, action: str, subject: str) -> None:
    s.add(AuditEvent(user_id=user_id, action=action, subject=subject, created_at=datetime.now(UTC)))


def record_notification(s: Session, user_id: int, kind: str, body: str) -> None:
    s.add(Notification(user_id=user_id, kind=kind, body=body, created_at=datetime.now(UTC)))


def record_usage(s: Session, user_id: int, metric: str, quantity: int) -> None:
    s.add(UsageRecord(user_id=user_id, metric=metric, quantity=quantity, created_at=datetime.now(UTC)))


def record_export_side_effects(s: Session, user_id: int, export_id: int, export_format: str) -> None:
    record_audit(s, user_id, "export", f"export:{export_id}")
    record_notification(s, user_id, "export", rules.export_notification(export_id, export_format))
    record_usage(s, user_id, "export", 1)
