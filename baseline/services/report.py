"""report: reports and their items."""

from fastapi import Depends

from baseline.services.common import Caller, RequestTiming, revalidated_caller
from domain import errors
from domain.models import ReportOut, ReportSummary
from domain.service import create_service
from domain.wiring import db, queries, rpc

app = create_service("report")
app.add_middleware(RequestTiming)


@app.get("/internal/reports/latest")
async def latest(caller: Caller = Depends(revalidated_caller)) -> list[ReportSummary]:
    ids = await rpc.call("search", "GET", "/internal/search/reports", params={"owner_id": caller.user_id})
    summaries = await db.run(queries.report_summaries, ids)
    statuses = await rpc.call("export", "POST", "/internal/exports/statuses", token=caller.token, json=ids)
    return [ReportSummary.model_validate({**s, "latest_export_status": statuses[str(s["id"])]})
            for s in summaries]


@app.get("/internal/reports/{report_id}")
async def report(report_id: int, caller: Caller = Depends(revalidated_caller)) -> ReportOut:
    found: ReportOut | None = await db.run(queries.report_view, caller.user_id, report_id)
    if found is None:
        raise errors.not_found("report")
    return found
