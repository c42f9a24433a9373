"""core-api of s8: s6's one deployable, each route's read checking the token's session itself.

FIX (a round trip per request too many): the routes hand the token's claims (verified at the
edge, stages/s8_one_round_trip/edge_token.py) to a query that checks the session in the same
statement as its read, and say so to the edge; login is s6's, unchanged.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, status

from domain import errors
from domain.models import DashboardOut, ExportCreated, ExportIn, ExportOut, MeOut, ReportOut, RowId
from domain.service import create_service
from domain.wiring import db, queries
from stages.s6_one_deployable.services.core_api import sign_in
from stages.s8_one_round_trip.edge_token import CHECKED, CLAIMS, TokenAtEdge

app = create_service("core-api", public=True)
app.add_middleware(TokenAtEdge)
app.include_router(sign_in)  # login: public, as in s6


async def as_caller(request: Request, fn: Callable[..., Any], *args: Any) -> Any:
    """Run `fn(connection, claims, now, *args)`, whose statement checks the session as it reads."""
    try:
        return await db.run(fn, request.scope["state"][CLAIMS], datetime.now(UTC), *args)
    except queries.SessionEnded:
        raise errors.unauthorized() from None
    finally:
        request.scope["state"][CHECKED] = True


@app.get("/api/me")
async def me(request: Request) -> MeOut:
    found: MeOut = await as_caller(request, queries.me)
    return found


@app.get("/api/dashboard")
async def dashboard(request: Request) -> DashboardOut:
    found: DashboardOut = await as_caller(request, queries.dashboard)
    return found


@app.get("/api/reports/{report_id}")
async def report(report_id: RowId, request: Request) -> ReportOut:
    found: ReportOut | None = await as_caller(request, queries.report_view, report_id)
    if found is None:
        raise errors.not_found("report")
    return found


@app.post("/api/reports/{report_id}/export", status_code=status.HTTP_202_ACCEPTED)
async def export(report_id: RowId, body: ExportIn, request: Request) -> ExportCreated:
    created: ExportCreated | None = await as_caller(request, queries.create_export, report_id, body.format)
    if created is None:
        raise errors.not_found("report")
    await db.run(queries.record_export_side_effects, request.scope["state"][CLAIMS].user_id, created.id, body.format)
    return created


@app.get("/api/exports/{export_id}")
async def export_status(export_id: RowId, request: Request) -> ExportOut:
    found: ExportOut | None = await as_caller(request, queries.export_view, export_id)
    if found is None:
        raise errors.not_found("export")
    return found
