"""jobs: reports, exports and their layout (was report, export, pdf)."""

from domain import errors
from domain.models import DashboardOut, ExportCreated, ExportIn, ExportOut, ReportOut
from domain.service import create_service
from domain.wiring import db, queries

app = create_service("jobs")


@app.get("/internal/users/{user_id}/dashboard")
async def dashboard(user_id: int) -> DashboardOut:
    return await db.run(queries.dashboard, user_id)


@app.get("/internal/users/{user_id}/reports/{report_id}")
async def report(user_id: int, report_id: int) -> ReportOut:
    found: ReportOut | None = await db.run(queries.report_view, user_id, report_id)
    if found is None:
        raise errors.not_found("report")
    return found


@app.post("/internal/users/{user_id}/reports/{report_id}/exports")
async def create_export(user_id: int, report_id: int, body: ExportIn) -> ExportCreated:
    created: ExportCreated | None = await db.run(queries.create_export, user_id, report_id, body.format)
    if created is None:
        raise errors.not_found("report")
    return created


@app.get("/internal/users/{user_id}/exports/{export_id}")
async def export(user_id: int, export_id: int) -> ExportOut:
    found: ExportOut | None = await db.run(queries.export_view, user_id, export_id)
    if found is None:
        raise errors.not_found("export")
    return found
