"""Counting internal HTTP hops per client request.

Every service reports in a response header how many internal calls it made to serve the
request, its callees' calls included. The edge's header is the hop count of a client
request; verify and the load generator read it, and verify ignores it when comparing.
"""

from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain import errors

HEADER = "x-internal-hops"
_hops: ContextVar[list[int] | None] = ContextVar("ladder_hops", default=None)


def callee_answer(status_code: int, callee_header: str | None, body: Any) -> Any:
    """What every rpc adapter does with a callee's answer: count the hops, re-raise its error."""
    add_call(callee_header)
    if status_code >= 400:
        raise errors.from_callee(status_code, body)
    return body


def add_call(callee_header: str | None) -> None:
    """Record one internal call and the hops its callee reported."""
    counter = _hops.get()
    if counter is not None:
        counter[0] += 1 + int(callee_header or 0)


class HopCounter:
    """Pure ASGI middleware: counts within the request's context, adds the header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counter = [0]
        token = _hops.set(counter)

        async def send_with_hops(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((HEADER.encode(), str(counter[0]).encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_hops)
        finally:
            _hops.reset(token)
