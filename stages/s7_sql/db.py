"""Database adapter of s7: one raw asyncpg pool per process; a query is a coroutine on a connection.

FIX (the ORM on the hot paths): s6's profile put ~40 % of the CPU per request in SQLAlchemy (the
async session's greenlet bridge, statement compilation and cache keys, identity-map bookkeeping)
for reads that return a handful of rows. Here a unit of work is the connection itself: the query
module sends its SQL through asyncpg, whose per-connection statement cache prepares each query
once, and decides itself where a transaction is needed (a multi-statement write) and where one
statement in autocommit is the unit of work (every read, a single insert).

Two pool settings chosen deliberately, not left to defaults:
- `reset`: asyncpg's default runs `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on
  every release, a second round trip per unit of work. No query here sets session state, takes
  an advisory lock, LISTENs or keeps a cursor, so there is nothing to undo; asyncpg still rolls
  back a transaction left open (its own `_reset`, run before ours), so a cancelled request cannot
  hand a connection on mid-transaction.
- TLS stays as the URL says (`sslmode`): the pool opens its connections once per process, so a
  handshake is off the per-request path either way.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from domain.settings import get_settings

T = TypeVar("T")
settings = get_settings()
_pool: asyncpg.Pool | None = None
_opening = asyncio.Lock()


async def _no_session_state(connection: asyncpg.Connection) -> None:
    """The pool's reset on release: the units of work leave no session state behind (see above)."""


async def _the_pool() -> asyncpg.Pool:
    global _pool
    if _pool is None:
        async with _opening:  # the first requests of a worker arrive together: open one pool
            if _pool is None:
                _pool = await asyncpg.create_pool(
                    settings.database_url, min_size=settings.pool_size, max_size=settings.pool_size,
                    reset=_no_session_state)
    return _pool


async def run(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run `fn(connection, *args)` on a pooled connection (the port of domain/wiring.py)."""
    async with (await _the_pool()).acquire() as connection:
        return await fn(connection, *args)
