"""user: user, profile and preferences (was user, profile, prefs)."""

from domain.models import MeOut
from domain.service import create_service
from domain.wiring import db, queries

app = create_service("user")


@app.get("/internal/users/{user_id}/me")
async def me(user_id: int) -> MeOut:
    return await db.run(queries.me, user_id)
