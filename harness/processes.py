"""Stopping child processes the polite way: SIGTERM, a grace period, then SIGKILL."""

import subprocess
import time
from collections.abc import Iterable


def terminate(processes: Iterable["subprocess.Popen[bytes]"], grace: float) -> None:
    """SIGTERM every live one at once, wait until `grace` seconds have passed, kill the rest.
    (Stage services are stopped by process group instead, in harness.backends.local: their workers
    are children of their own.)"""
    live = [p for p in processes if p.poll() is None]
    for p in live:
        p.terminate()
    deadline = time.monotonic() + grace
    for p in live:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
