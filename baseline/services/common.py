"""Pieces the baseline's services copied between each other."""

import logging
import time
from dataclasses import dataclass

from fastapi import Header, Request, Response
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from domain import errors, tokens
from domain.wiring import rpc

log = logging.getLogger("timing")


@dataclass(frozen=True)
class Caller:
    user_id: int
    token: str


async def revalidated_caller(authorization: str | None = Header(default=None)) -> Caller:
    """ANTI-PATTERN (duplicated auth): six services each re-validate the bearer token by
    calling auth → token → session, three more hops every time."""
    try:
        token = tokens.bearer_token(authorization)
    except tokens.InvalidToken:
        raise errors.unauthorized() from None
    result = await rpc.call("auth", "POST", "/internal/validate", token=token)
    return Caller(user_id=int(result["user_id"]), token=token)


class RequestTiming(BaseHTTPMiddleware):
    """ANTI-PATTERN (inconsistent middleware): copied into some services, not others; a
    BaseHTTPMiddleware wraps every request in an extra task and stream."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        log.info("%s %s %.1fms", request.method, request.url.path,
                 (time.perf_counter() - started) * 1000)
        return response
