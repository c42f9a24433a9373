"""core-api: the edge. One internal hop at most per client request."""

from fastapi import Request, status

from domain.models import DashboardOut, ExportCreated, ExportIn, ExportOut, LoginIn, MeOut, ReportOut, RowId, TokenOut
from domain.service import create_service
from domain.wiring import db, queries, rpc
from stages.s1_consolidated.edge_auth import EdgeAuth

app = create_service("core-api", public=True)
# FIX (inconsistent middleware): one middleware stack, the same at every edge — the token checked
# once (EdgeAuth, a plain ASGI middleware); the baseline's RequestTiming, copied into six services
# as a BaseHTTPMiddleware (an extra task and stream per request), is gone
app.add_middleware(EdgeAuth)


def caller(request: Request) -> int:
    return int(request.state.user_id)


@app.post("/api/login")
async def login(body: LoginIn) -> TokenOut:
    issued = await rpc.call("identity", "POST", "/internal/login", json=body.model_dump())
    await db.run(queries.record_audit, issued["user_id"], "login", "session")
    return TokenOut(access_token=issued["access_token"], expires_in=issued["expires_in"])


@app.get("/api/me")
async def me(request: Request) -> MeOut:
    return MeOut.model_validate(await rpc.call("user", "GET", f"/internal/users/{caller(request)}/me"))


@app.get("/api/dashboard")
async def dashboard(request: Request) -> DashboardOut:
    body = await rpc.call("jobs", "GET", f"/internal/users/{caller(request)}/dashboard")
    return DashboardOut.model_validate(body)


@app.get("/api/reports/{report_id}")
async def report(report_id: RowId, request: Request) -> ReportOut:
    body = await rpc.call("jobs", "GET", f"/internal/users/{caller(request)}/reports/{report_id}")
    return ReportOut.model_validate(body)


@app.post("/api/reports/{report_id}/export", status_code=status.HTTP_202_ACCEPTED)
async def export(report_id: RowId, body: ExportIn, request: Request) -> ExportCreated:
    user_id = caller(request)
    created = ExportCreated.model_validate(await rpc.call(
        "jobs", "POST", f"/internal/users/{user_id}/reports/{report_id}/exports", json=body.model_dump()))
    await db.run(queries.record_export_side_effects, user_id, created.id, body.format)
    return created


@app.get("/api/exports/{export_id}")
async def export_status(export_id: RowId, request: Request) -> ExportOut:
    body = await rpc.call("jobs", "GET", f"/internal/users/{caller(request)}/exports/{export_id}")
    return ExportOut.model_validate(body)
