"""Service-to-service calls of the baseline (and of s1): blocking `requests`."""

from typing import Any

import requests

from domain import hops
from domain.settings import get_settings

settings = get_settings()


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
    # ANTI-PATTERN (sync HTTP in async def): `requests` blocks the event loop for the whole
    # round trip, and opens a new TCP connection for every call.
    response = requests.request(
        method, settings.services[service] + path, headers=headers, json=json, params=params,
        timeout=settings.rpc_timeout_seconds,
    )
    return hops.callee_answer(response.status_code, response.headers.get(hops.HEADER), response.json())
