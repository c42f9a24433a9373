"""FIX (consolidation): the token is checked once, at the edge, by this one middleware.

Internal services trust the edge (they listen on loopback / the private network only)
and take the caller's id as a path parameter: no more auth → token → session chains.
"""

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from domain import errors, tokens
from domain.settings import get_settings
from domain.wiring import db, queries

PUBLIC = frozenset({"/api/login", "/healthz", "/openapi.json"})  # the schema is public, as in the baseline


async def deny(scope: Scope, receive: Receive, send: Send) -> None:
    """The 401 of a missing, invalid or expired token or a dead session."""
    denied = errors.unauthorized()
    await JSONResponse({"detail": denied.detail}, denied.status_code, denied.headers)(scope, receive, send)


class EdgeAuth:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.secret = get_settings().token_secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC:
            await self.app(scope, receive, send)
            return
        user_id = await self._user_id(scope)
        if user_id is None:
            await deny(scope, receive, send)
            return
        scope.setdefault("state", {})["user_id"] = user_id
        await self.app(scope, receive, send)

    def _claims(self, scope: Scope) -> tokens.TokenClaims | None:
        """The bearer token's claims if it verifies (signature and expiry: no database)."""
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization", b"").decode("latin-1") or None
        try:
            return tokens.decode_token(self.secret, tokens.bearer_token(authorization))
        except tokens.InvalidToken:
            return None

    async def _user_id(self, scope: Scope) -> int | None:
        claims = self._claims(scope)
        if claims is None:
            return None
        user_id: int | None = await db.run(queries.session_user_id, claims.session_id, claims.user_id)
        return user_id
