"""Service-to-service calls of s2: httpx.AsyncClient, still one client per call."""

import ssl
from typing import Any

import httpx

from domain import hops
from domain.settings import get_settings

settings = get_settings()
# Internal calls are plain HTTP; building the (unused) TLS context once keeps a per-call
# client from measuring CA-bundle parsing instead of connection setup.
_TLS = ssl.create_default_context()


async def call(
    service: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    json: Any = None,
    params: dict[str, Any] | None = None,
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # FIX (truly async HTTP): the round trip is awaited, the event loop is free meanwhile.
    # Still a new client and TCP connection per call: s3 fixes that.
    async with httpx.AsyncClient(timeout=settings.rpc_timeout_seconds, verify=_TLS) as client:
        response = await client.request(
            method, settings.services[service] + path, headers=headers, json=json, params=params
        )
    return hops.callee_answer(response.status_code, response.headers.get(hops.HEADER), response.json())
