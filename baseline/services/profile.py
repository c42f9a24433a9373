"""profile: display name, company, time zone, bio."""

from fastapi import Depends

from baseline.services.common import Caller, revalidated_caller
from domain.models import ProfileOut
from domain.service import create_service
from domain.wiring import db, queries

app = create_service("profile")


@app.get("/internal/profile")
async def profile(caller: Caller = Depends(revalidated_caller)) -> ProfileOut:
    return await db.run(queries.profile, caller.user_id)
