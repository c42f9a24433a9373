"""core-api of s6: the whole public API in one deployable, no internal HTTP hop.

FIX (the internal hop): s5's profile put ~22 % of the CPU per request in the HTTP client and a
further share in the callee's server, framework and JSON — the price of calling identity, user
and jobs over HTTP. Here the edge runs their units of work itself, through the same db port and
queries, so a request is parsed, served and serialized once. The trade-off: the four domains now
deploy and scale together (one image, one process per CPU), as a modular monolith.
"""

from fastapi import APIRouter, Request, status

from domain import errors, tokens
from domain.models import DashboardOut, ExportCreated, ExportIn, ExportOut, LoginIn, MeOut, ReportOut, RowId, TokenOut
from domain.service import create_service
from domain.settings import get_settings
from domain.wiring import db, queries
from stages.s1_consolidated.edge_auth import EdgeAuth

app = create_service("core-api", public=True)
app.add_middleware(EdgeAuth)
settings = get_settings()
sign_in = APIRouter()  # the public route: later rungs that change the reads include it as it is


@sign_in.post("/api/login")
async def login(body: LoginIn) -> TokenOut:
    # was identity's /internal/login
    expires_at = tokens.session_expiry(settings.token_ttl_seconds)
    opened = await db.run(queries.open_session, body.email, body.password, expires_at)
    if opened is None:
        raise errors.unauthorized(errors.BAD_CREDENTIALS)
    user_id, session_id = opened
    await db.run(queries.record_audit, user_id, "login", "session")
    return TokenOut(access_token=tokens.issue_token(settings.token_secret, session_id, user_id, expires_at),
                    expires_in=settings.token_ttl_seconds)


app.include_router(sign_in)


def caller(request: Request) -> int:
    return int(request.state.user_id)


@app.get("/api/me")
async def me(request: Request) -> MeOut:
    # was user's /internal/users/{id}/me
    return await db.run(queries.me, caller(request))


@app.get("/api/dashboard")
async def dashboard(request: Request) -> DashboardOut:
    # was jobs' /internal/users/{id}/dashboard
    return await db.run(queries.dashboard, caller(request))


@app.get("/api/reports/{report_id}")
async def report(report_id: RowId, request: Request) -> ReportOut:
    found: ReportOut | None = await db.run(queries.report_view, caller(request), report_id)
    if found is None:
        raise errors.not_found("report")
    return found


@app.post("/api/reports/{report_id}/export", status_code=status.HTTP_202_ACCEPTED)
async def export(report_id: RowId, body: ExportIn, request: Request) -> ExportCreated:
    user_id = caller(request)
    created: ExportCreated | None = await db.run(queries.create_export, user_id, report_id, body.format)
    if created is None:
        raise errors.not_found("report")
    await db.run(queries.record_export_side_effects, user_id, created.id, body.format)
    return created


@app.get("/api/exports/{export_id}")
async def export_status(export_id: RowId, request: Request) -> ExportOut:
    found: ExportOut | None = await db.run(queries.export_view, caller(request), export_id)
    if found is None:
        raise errors.not_found("export")
    return found
