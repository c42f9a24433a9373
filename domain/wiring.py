"""The ports every service is written against, and the adapters a stage plugs in.

A service never imports a driver or an HTTP client. It awaits `db.run(query, ...)` and
`rpc.call(service, method, path, ...)`, and names its queries from `queries`. The stage
manifest's [adapters] table says which module implements each port; the harness passes
that choice to every process as LADDER_DB_ADAPTER / LADDER_RPC_ADAPTER /
LADDER_QUERIES_ADAPTER. Swapping one adapter is one fix of the ladder.
"""

import importlib
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy.orm import Session

from domain.settings import get_settings

T = TypeVar("T")


class DatabasePort(Protocol):
    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(session, *args)` in one unit of work and commit it."""
        ...


class RpcPort(Protocol):
    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """Call another service; its error status and detail are re-raised as HTTPException."""
        ...


def _load(module: str) -> Any:
    return importlib.import_module(module)


settings = get_settings()
db = cast(DatabasePort, _load(settings.db_adapter))
rpc = cast(RpcPort, _load(settings.rpc_adapter))
# the queries adapter is a module of functions taking a Session first (see baseline/queries.py)
queries: Any = _load(settings.queries_adapter)

__all__ = ["db", "rpc", "queries", "Session"]
