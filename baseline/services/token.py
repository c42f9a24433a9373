"""token: signs and verifies bearer tokens; asks session whether one is still live."""

from fastapi import Header
from pydantic import BaseModel

from domain import errors, tokens
from domain.service import create_service
from domain.settings import get_settings
from domain.wiring import rpc

app = create_service("token")
settings = get_settings()


class IssueIn(BaseModel):
    user_id: int


@app.post("/internal/verify")
async def verify(authorization: str | None = Header(default=None)) -> dict[str, object]:
    try:
        claims = tokens.decode_token(settings.token_secret, tokens.bearer_token(authorization))
    except tokens.InvalidToken:
        raise errors.unauthorized() from None
    await rpc.call("session", "GET", f"/internal/sessions/{claims.session_id}",
                   params={"user_id": claims.user_id})
    return {"user_id": claims.user_id, "session_id": claims.session_id}


@app.post("/internal/issue")
async def issue(body: IssueIn) -> dict[str, object]:
    expires_at = tokens.session_expiry(settings.token_ttl_seconds)
    created = await rpc.call("session", "POST", "/internal/sessions",
                             json={"user_id": body.user_id, "expires_at": expires_at.isoformat()})
    token = tokens.issue_token(settings.token_secret, created["session_id"], body.user_id, expires_at)
    return {"access_token": token, "expires_in": settings.token_ttl_seconds}

