"""identity: passwords, sessions and tokens in one place (was auth, token, session)."""

from typing import Any

from domain import errors, tokens
from domain.models import LoginIn
from domain.service import create_service
from domain.settings import get_settings
from domain.wiring import db, queries

app = create_service("identity")
settings = get_settings()


@app.post("/internal/login")
async def login(body: LoginIn) -> dict[str, Any]:
    expires_at = tokens.session_expiry(settings.token_ttl_seconds)
    opened = await db.run(queries.open_session, body.email, body.password, expires_at)
    if opened is None:
        raise errors.unauthorized(errors.BAD_CREDENTIALS)
    user_id, session_id = opened
    return {"user_id": user_id, "expires_in": settings.token_ttl_seconds,
            "access_token": tokens.issue_token(settings.token_secret, session_id, user_id, expires_at)}
