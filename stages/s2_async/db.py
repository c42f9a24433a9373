"""Database adapter of s2: asyncpg under SQLAlchemy's async engine, still no pool."""

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from domain.database import with_driver
from domain.settings import get_settings

T = TypeVar("T")

# Still no pool: s3 fixes that.
engine = create_async_engine(with_driver(get_settings().database_url, "asyncpg"), poolclass=NullPool)


async def run(fn: Callable[..., T], *args: Any) -> T:
    # FIX (truly async DB): asyncpg awaits every round trip, so the event loop serves other
    # requests meanwhile. The query code is unchanged: run_sync runs it in a greenlet.
    async with AsyncSession(engine, expire_on_commit=False) as session:
        result = await session.run_sync(fn, *args)
        await session.commit()
        return result
