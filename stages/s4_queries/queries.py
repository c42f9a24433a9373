"""Data access of s4: the composite reads without N+1.

FIX (N+1): each composite read is one or two statements (joins, eager loads, correlated
subqueries served by the indexes in indexes.sql) instead of one statement per row.
Everything not redefined here is s1's code (stages/s1_consolidated/queries.py), unchanged.
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, selectinload

# Unchanged: the baseline's writes and single-row reads, s1's sign-in and export units of work
from baseline.queries import (  # noqa: F401  (re-exported: this module is the queries port)
    export_view,
    record_audit,
    record_export_side_effects,
    session_user_id,
)
from domain import rules
from domain.models import (
    DashboardOut,
    MeOut,
    PreferencesOut,
    ProfileOut,
    ReportItemOut,
    ReportOut,
    ReportSummary,
    UserSummary,
)
from domain.schema import ExportJob, Report, ReportItem, User
from stages.s1_consolidated.queries import create_export, open_session  # noqa: F401


def me(s: Session, user_id: int) -> MeOut:
    stmt = select(User).where(User.id == user_id).options(
        joinedload(User.profile), joinedload(User.preferences))
    user = s.scalars(stmt).one()
    p, prefs = user.profile, user.preferences
    return MeOut(
        id=user.id, email=user.email, name=user.name,
        profile=ProfileOut(display_name=p.display_name, company=p.company, timezone=p.timezone, bio=p.bio),
        preferences=PreferencesOut(theme=prefs.theme, language=prefs.language,
                                   email_notifications=prefs.email_notifications),
    )


def dashboard(s: Session, user_id: int) -> DashboardOut:
    report_count = select(func.count()).where(Report.owner_id == User.id).scalar_subquery()
    user = s.execute(select(User.id, User.name, report_count).where(User.id == user_id)).one()
    item_count = (select(func.count()).where(ReportItem.report_id == Report.id)
                  .scalar_subquery())
    latest_status = (select(ExportJob.status).where(ExportJob.report_id == Report.id)
                     .order_by(ExportJob.id.desc()).limit(1).scalar_subquery())
    rows = s.execute(
        select(Report.id, Report.title, Report.created_at, item_count, latest_status)
        .where(Report.owner_id == user_id)
        .order_by(Report.created_at.desc(), Report.id.desc())
        .limit(rules.DASHBOARD_REPORTS)
    ).all()
    return DashboardOut(
        user=UserSummary(id=user[0], name=user[1], report_count=user[2]),
        reports=[ReportSummary(id=r[0], title=r[1], created_at=r[2], item_count=r[3],
                               latest_export_status=r[4]) for r in rows],
    )


def report_view(s: Session, user_id: int, report_id: int) -> ReportOut | None:
    stmt = select(Report).where(Report.id == report_id, Report.owner_id == user_id).options(
        selectinload(Report.items))
    report = s.scalars(stmt).first()
    if report is None:
        return None
    return ReportOut(
        id=report.id, owner_id=report.owner_id, title=report.title, created_at=report.created_at,
        items=[ReportItemOut(position=i.position, label=i.label, value=i.value) for i in report.items],
    )

