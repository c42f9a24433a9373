"""Request bodies are bounded at the edge, the same in every stage.

The public API's bodies are a login and an export request, a few hundred bytes at most; without a
bound a client could make the edge buffer and parse megabytes per request. A body over
MAX_BODY_BYTES is answered 413 before any middleware or route sees it: by its declared
Content-Length, or, when it comes chunked, as it arrives (read here up to the bound and replayed to
the app, so authentication and routing see the request exactly as they would have).
"""

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024
TOO_LARGE = "request body too large"


class BodyLimit:
    """Pure ASGI middleware, outermost at the edge (domain.service.create_service)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            # the server delivers at most the declared length, so the header alone decides
            if not declared.isdigit() or int(declared) > self.limit:
                await self._too_large(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        if b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
            await self.app(scope, receive, send)  # no body
            return
        body, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: the app hears it too
                await self.app(scope, _replay([message], receive), send)
                return
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._too_large(scope, receive, send)
                return
            body.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(body), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await JSONResponse({"detail": TOO_LARGE}, status_code=413)(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """`receive` that first returns `messages`, then the server's own (a disconnect, later)."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
