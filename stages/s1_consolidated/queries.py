"""Data access of the consolidated services (s1 on): the baseline's queries, plus composite units
of work.

FIX (consolidation): in the baseline a client request crossed 4–5 services, each running its own
query in its own unit of work (and opening its own connection). A consolidated service does the
whole read or write itself: signing in, the user with profile and preferences, the dashboard, an
export — each one unit of work here, still built from the baseline's N+1 queries (s4 fixes those).
Everything else is the baseline's code, unchanged.
"""

from datetime import datetime

from sqlalchemy.orm import Session

from baseline.queries import (  # noqa: F401  (re-exported: this module is the queries port)
    create_session,
    export_statuses,
    export_view,
    insert_export,
    latest_report_ids,
    login_user_id,
    owned_report,
    preferences,
    profile,
    record_audit,
    record_export_side_effects,
    render_export,
    report_summaries,
    report_view,
    session_user_id,
    user_basics,
    user_summary,
)
from domain.models import DashboardOut, ExportCreated, MeOut, ReportSummary


def open_session(s: Session, email: str, password: str, expires_at: datetime) -> tuple[int, str] | None:
    user_id = login_user_id(s, email, password)
    if user_id is None:
        return None
    return user_id, create_session(s, user_id, expires_at)


def me(s: Session, user_id: int) -> MeOut:
    basics = user_basics(s, user_id)
    return MeOut(id=int(str(basics["id"])), email=str(basics["email"]), name=str(basics["name"]),
                 profile=profile(s, user_id), preferences=preferences(s, user_id))


def dashboard(s: Session, user_id: int) -> DashboardOut:
    ids = latest_report_ids(s, user_id)
    statuses = export_statuses(s, ids)
    reports = [ReportSummary.model_validate({**r, "latest_export_status": statuses[int(str(r["id"]))]})
               for r in report_summaries(s, ids)]
    return DashboardOut(user=user_summary(s, user_id), reports=reports)


def create_export(s: Session, user_id: int, report_id: int, export_format: str) -> ExportCreated | None:
    if owned_report(s, user_id, report_id) is None:
        return None
    export_id = insert_export(s, user_id, report_id, export_format)
    render_export(s, export_id)
    return ExportCreated(id=export_id, status="queued")
