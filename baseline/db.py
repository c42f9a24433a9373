"""Database adapter of the baseline (and of s1): blocking psycopg, no pool."""

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from domain.database import with_driver
from domain.settings import get_settings

T = TypeVar("T")

# ANTI-PATTERN (no pooling): NullPool connects and disconnects for every unit of work;
# each request pays a PostgreSQL backend fork and a SCRAM authentication.
engine = create_engine(with_driver(get_settings().database_url, "psycopg"), poolclass=NullPool)


async def run(fn: Callable[..., T], *args: Any) -> T:
    # ANTI-PATTERN (sync driver in async def): psycopg blocks the event loop for every
    # query, so this process serves one request at a time.
    with Session(engine, expire_on_commit=False) as session:
        result = fn(session, *args)
        session.commit()
        return result
