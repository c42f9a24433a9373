"""user: the user record; composes profile and preferences, and the dashboard."""

from fastapi import Depends

from baseline.services.common import Caller, RequestTiming, revalidated_caller
from domain.models import DashboardOut, MeOut
from domain.service import create_service
from domain.wiring import db, queries, rpc

app = create_service("user")
app.add_middleware(RequestTiming)


@app.get("/internal/me")
async def me(caller: Caller = Depends(revalidated_caller)) -> MeOut:
    basics = await db.run(queries.user_basics, caller.user_id)
    profile = await rpc.call("profile", "GET", "/internal/profile", token=caller.token)
    prefs = await rpc.call("prefs", "GET", f"/internal/prefs/{caller.user_id}")
    return MeOut.model_validate({**basics, "profile": profile, "preferences": prefs})


@app.get("/internal/dashboard")
async def dashboard(caller: Caller = Depends(revalidated_caller)) -> DashboardOut:
    summary = await db.run(queries.user_summary, caller.user_id)
    reports = await rpc.call("report", "GET", "/internal/reports/latest", token=caller.token)
    return DashboardOut.model_validate({"user": summary, "reports": reports})
