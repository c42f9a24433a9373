"""session: the login session rows behind every token."""

from datetime import datetime

from pydantic import BaseModel

from domain import errors
from domain.service import create_service
from domain.wiring import db, queries

app = create_service("session")


class SessionIn(BaseModel):
    user_id: int
    expires_at: datetime


@app.get("/internal/sessions/{session_id}")
async def check(session_id: str, user_id: int) -> dict[str, int]:
    if await db.run(queries.session_user_id, session_id, user_id) is None:
        raise errors.unauthorized()
    return {"user_id": user_id}


@app.post("/internal/sessions")
async def create(body: SessionIn) -> dict[str, str]:
    return {"session_id": await db.run(queries.create_session, body.user_id, body.expires_at)}
