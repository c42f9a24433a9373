"""Loaded by a service's Python only while the harness probes its statements one request at a
time (harness/service/statements.py), never in a measured window: PYTHONPATH names this folder
for that start alone, and the service's own code is not touched.

Every statement SQLAlchemy sends (sync or async, ORM or Core, SQLModel too: all go through an
Engine's cursor) is prefixed with a comment naming the innermost frame of the service's own code
that led to it, `/* ladder-site: notes/listing.py:9 latest_notes */`; pg_stat_statements keeps the
comment in the text it stores, and the probe reads it back. Under asyncio, SQLAlchemy runs the
statement in a greenlet of its own: the frames of the code that awaited it are the parent
greenlet's, and are searched next. Nothing here may fail the service: any error leaves the
statement as it was.
"""

from __future__ import annotations

import os
import sys
from types import FrameType
from typing import Any

_ROOT = os.environ.get("LADDER_SITES_ROOT", "")


def _own(path: str) -> bool:
    return path.startswith(_ROOT) and "site-packages" not in path and "/.venv/" not in path


def _site(frame: FrameType | None) -> str | None:
    while frame is not None:
        path = frame.f_code.co_filename
        if _own(path):
            name = getattr(frame.f_code, "co_qualname", frame.f_code.co_name)
            return f"{os.path.relpath(path, _ROOT)}:{frame.f_lineno} {name}"
        frame = frame.f_back
    return None


def _install() -> None:
    try:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
    except Exception:  # no SQLAlchemy in this service: its statements carry no site
        return

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> tuple[str, Any]:
        try:
            site = _site(sys._getframe(1))
            if site is None:
                import greenlet  # SQLAlchemy's asyncio: the statement runs in a child greenlet
                parent = greenlet.getcurrent().parent
                site = _site(parent.gr_frame) if parent is not None else None
            if site is not None:
                return f"/* ladder-site: {site.replace('*/', '* /')} */ {statement}", parameters
        except Exception:
            pass
        return statement, parameters

    event.listen(Engine, "before_cursor_execute", before, retval=True)


if _ROOT:
    _install()
