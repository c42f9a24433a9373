"""Stopping a run on Ctrl-C or SIGTERM, reliably.

The handler raises KeyboardInterrupt so that every context manager unwinds and stops what
it started. A KeyboardInterrupt raised while Python runs a finalizer is printed and
swallowed, so the request is also remembered and checked at every phase boundary.

Teardown code runs inside `deferred()`: a signal arriving there (a second Ctrl-C, an
impatient SIGTERM) is remembered but not raised, because a teardown cut in half is exactly
what leaves processes, containers and temporary databases behind.
"""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_requested = threading.Event()
_deferring = 0  # depth of nested deferred() blocks


def _handler(signum: int, frame: FrameType | None) -> None:
    _requested.set()
    if not _deferring:
        raise KeyboardInterrupt


def install() -> None:
    # set SIGINT explicitly: a parent that ignores it (a background job of a
    # non-interactive shell, some CI runners) would otherwise make the run unstoppable
    _requested.clear()
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)


def requested() -> bool:
    return _requested.is_set()


def check() -> None:
    """Raise KeyboardInterrupt if a stop was requested and got lost or deferred on the way."""
    if _requested.is_set():
        raise KeyboardInterrupt


@contextmanager
def deferred() -> Iterator[None]:
    """Run a teardown to its end; a stop requested meanwhile is raised by the next check()."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
