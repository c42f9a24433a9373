"""export: export jobs. Creating one fans out to pdf, notification and billing."""

from fastapi import Body, Depends

from baseline.services.common import Caller, RequestTiming, revalidated_caller
from domain import errors, rules
from domain.models import ExportCreated, ExportIn, ExportOut
from domain.service import create_service
from domain.wiring import db, queries, rpc

app = create_service("export")
app.add_middleware(RequestTiming)


@app.post("/internal/exports/statuses")
async def statuses(report_ids: list[int] = Body(),
                   caller: Caller = Depends(revalidated_caller)) -> dict[int, str | None]:
    return await db.run(queries.export_statuses, report_ids)


@app.post("/internal/reports/{report_id}/exports")
async def create(report_id: int, body: ExportIn,
                 caller: Caller = Depends(revalidated_caller)) -> ExportCreated:
    if await db.run(queries.owned_report_id, caller.user_id, report_id) is None:
        raise errors.not_found("report")
    export_id = await db.run(queries.insert_export, caller.user_id, report_id, body.format)
    await rpc.call("pdf", "POST", f"/internal/renders/{export_id}", token=caller.token)
    await rpc.call("notification", "POST", "/internal/notifications",
                   json={"user_id": caller.user_id, "kind": "export",
                         "body": rules.export_notification(export_id, body.format)})
    await rpc.call("billing", "POST", "/internal/usage",
                   json={"user_id": caller.user_id, "metric": "export", "quantity": 1})
    return ExportCreated(id=export_id, status="queued")


@app.get("/internal/exports/{export_id}")
async def export(export_id: int, caller: Caller = Depends(revalidated_caller)) -> ExportOut:
    found: ExportOut | None = await db.run(queries.export_view, caller.user_id, export_id)
    if found is None:
        raise errors.not_found("export")
    return found
