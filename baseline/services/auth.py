"""auth: validates tokens (through token → session) and checks passwords."""

from typing import Any

from fastapi import Header

from baseline.services.common import RequestTiming
from domain import errors, tokens
from domain.models import LoginIn
from domain.service import create_service
from domain.wiring import db, queries, rpc

app = create_service("auth")
app.add_middleware(RequestTiming)


@app.post("/internal/validate")
async def validate(authorization: str | None = Header(default=None)) -> dict[str, int]:
    try:
        token = tokens.bearer_token(authorization)
    except tokens.InvalidToken:
        raise errors.unauthorized() from None
    claims = await rpc.call("token", "POST", "/internal/verify", token=token)
    return {"user_id": int(claims["user_id"])}


@app.post("/internal/login")
async def login(body: LoginIn) -> dict[str, Any]:
    user_id = await db.run(queries.login_user_id, body.email, body.password)
    if user_id is None:
        raise errors.unauthorized(errors.BAD_CREDENTIALS)
    issued = await rpc.call("token", "POST", "/internal/issue", json={"user_id": user_id})
    return {"user_id": user_id, **issued}
