"""core-api: the edge. Every public route fans out to the internal services."""

from fastapi import Depends, status

from baseline.services.common import Caller, RequestTiming, revalidated_caller
from domain.models import DashboardOut, ExportCreated, ExportIn, ExportOut, LoginIn, MeOut, ReportOut, RowId, TokenOut
from domain.service import create_service
from domain.wiring import rpc

app = create_service("core-api", public=True)
app.add_middleware(RequestTiming)


@app.post("/api/login")
async def login(body: LoginIn) -> TokenOut:
    issued = await rpc.call("auth", "POST", "/internal/login", json=body.model_dump())
    await rpc.call("audit", "POST", "/internal/events",
                   json={"user_id": issued["user_id"], "action": "login", "subject": "session"})
    return TokenOut(access_token=issued["access_token"], expires_in=issued["expires_in"])


@app.get("/api/me")
async def me(caller: Caller = Depends(revalidated_caller)) -> MeOut:
    return MeOut.model_validate(await rpc.call("user", "GET", "/internal/me", token=caller.token))


@app.get("/api/dashboard")
async def dashboard(caller: Caller = Depends(revalidated_caller)) -> DashboardOut:
    body = await rpc.call("user", "GET", "/internal/dashboard", token=caller.token)
    return DashboardOut.model_validate(body)


@app.get("/api/reports/{report_id}")
async def report(report_id: RowId, caller: Caller = Depends(revalidated_caller)) -> ReportOut:
    body = await rpc.call("report", "GET", f"/internal/reports/{report_id}", token=caller.token)
    return ReportOut.model_validate(body)


@app.post("/api/reports/{report_id}/export", status_code=status.HTTP_202_ACCEPTED)
async def export(report_id: RowId, body: ExportIn,
                 caller: Caller = Depends(revalidated_caller)) -> ExportCreated:
    created = await rpc.call("export", "POST", f"/internal/reports/{report_id}/exports",
                             token=caller.token, json=body.model_dump())
    await rpc.call("audit", "POST", "/internal/events",
                   json={"user_id": caller.user_id, "action": "export", "subject": f"export:{created['id']}"})
    return ExportCreated.model_validate(created)


@app.get("/api/exports/{export_id}")
async def export_status(export_id: RowId, caller: Caller = Depends(revalidated_caller)) -> ExportOut:
    body = await rpc.call("export", "GET", f"/internal/exports/{export_id}", token=caller.token)
    return ExportOut.model_validate(body)
