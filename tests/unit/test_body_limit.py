"""The edge's bound on request bodies (domain.body_limit), on a real ASGI app through httpx."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from domain.body_limit import MAX_BODY_BYTES, TOO_LARGE
from domain.service import create_service


class DenyAll:
    """Stands for a stage's auth middleware: without the bound outermost, it would answer 401 first."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/denied":
            await JSONResponse({"detail": "no"}, status_code=401)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class Client:
    """Requests straight into the ASGI app (httpx's ASGITransport): no server in between."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def post(self, path: str, content: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://edge") as c:
                return await c.post(path, content=content)
        return asyncio.run(send())


def _client() -> tuple[Client, list[int]]:
    app = create_service("edge", public=True)
    app.add_middleware(DenyAll)
    seen: list[int] = []

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        seen.append(len(body))
        return {"length": len(body)}

    return Client(app), seen


async def _chunks(body: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


def test_a_body_over_the_bound_is_413_before_the_route_reads_it() -> None:
    client, seen = _client()
    r = client.post("/echo", content=b"x" * (MAX_BODY_BYTES + 1))
    assert (r.status_code, r.json()) == (413, {"detail": TOO_LARGE})
    assert seen == []  # fails if the bound only checked after the app had read the body


def test_a_body_at_the_bound_reaches_the_route_whole() -> None:
    client, seen = _client()
    assert client.post("/echo", content=b"x" * MAX_BODY_BYTES).json() == {"length": MAX_BODY_BYTES}
    assert seen == [MAX_BODY_BYTES]


def test_a_chunked_body_is_counted_as_it_arrives_and_replayed_whole() -> None:
    client, seen = _client()
    over = client.post("/echo", content=_chunks(b"x" * (MAX_BODY_BYTES + 10)))
    assert over.status_code == 413 and seen == []
    under = client.post("/echo", content=_chunks(b"y" * (MAX_BODY_BYTES - 10)))
    # fails if the replay lost or repeated a chunk
    assert under.json() == {"length": MAX_BODY_BYTES - 10} and seen == [MAX_BODY_BYTES - 10]


def test_the_bound_is_outside_every_middleware_a_stage_adds() -> None:
    client, _ = _client()
    assert client.post("/denied", content=b"x" * 10).status_code == 401
    # fails if a stage's own middleware (auth, in s1 on) could answer an oversized body first
    assert client.post("/denied", content=b"x" * (MAX_BODY_BYTES + 1)).status_code == 413


def test_internal_services_have_no_public_bound_of_their_own() -> None:
    internal = create_service("jobs")
    assert type(internal).__name__ == "FastAPI"
