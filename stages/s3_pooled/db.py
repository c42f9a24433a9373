"""Database adapter of s3: asyncpg under SQLAlchemy's async engine, one sized pool."""

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from domain.database import with_driver
from domain.settings import get_settings

T = TypeVar("T")
settings = get_settings()

# FIX (pooling): one pool per process, sized by settings (LADDER_POOL_SIZE); connections
# are opened once and reused, so a request no longer pays a backend fork and SCRAM auth.
engine = create_async_engine(
    with_driver(settings.database_url, "asyncpg"), pool_size=settings.pool_size, max_overflow=0
)


async def run(fn: Callable[..., T], *args: Any) -> T:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        result = await session.run_sync(fn, *args)
        await session.commit()
        return result
