"""Stopping a run on Ctrl-C or SIGTERM, reliably.

The handler raises KeyboardInterrupt so that every context manager unwinds and stops what
it started. A KeyboardInterrupt raised while Python runs a finalizer is printed and
swallowed, so the request is also remembered and checked at every phase boundary.
"""

import signal
import threading
from types import FrameType

_requested = threading.Event()


def _handler(signum: int, frame: FrameType | None) -> None:
    _requested.set()
    raise KeyboardInterrupt


def install() -> None:
    # set SIGINT explicitly: a parent that ignores it (a background job of a
    # non-interactive shell, some CI runners) would otherwise make the run unstoppable
    _requested.clear()
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)


def check() -> None:
    """Raise KeyboardInterrupt if a stop was requested and got lost on the way."""
    if _requested.is_set():
        raise KeyboardInterrupt
