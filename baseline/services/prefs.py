"""prefs: user preferences. Trusts whatever calls it (no auth here, unlike profile)."""

from domain.models import PreferencesOut
from domain.service import create_service
from domain.wiring import db, queries

app = create_service("prefs")


@app.get("/internal/prefs/{user_id}")
async def prefs(user_id: int) -> PreferencesOut:
    return await db.run(queries.preferences, user_id)
