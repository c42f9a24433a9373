"""The skeleton every kind of run shares (run-all, capacity, rtt-sweep): run.json written at the
start, its status at the end — complete (or what the body decided), interrupted with where,
crashed — its finishing time, and the tables drawn from whatever was measured, on every way out."""

import contextlib
import errno
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness import interrupts
from harness.errors import RunInterrupted
from harness.run_folder import utc_now, write_json


@contextlib.contextmanager
def recorded_run(run_dir: Path, record: dict[str, Any], where: Callable[[], str],
                 finish: Callable[[], object] = lambda: None) -> Iterator[dict[str, Any]]:
    """Yields `record` (run.json's content) for the body to fill; writes it at every change the
    body asks for (`save`) and on the way out. `where()` names where a stop landed; `finish`
    draws the run's tables and charts whatever happened. The body may set `status` itself
    (e.g. complete-with-failures); a stop deferred by the last teardown still counts."""
    write_json(run_dir / "run.json", record)
    try:
        yield record
        interrupts.check()  # a stop asked for during the last teardown was deferred until it ended
        record.setdefault("status", "complete")
    except RunInterrupted:  # a run inside this one (a sweep's ladder) already said where
        record["status"] = "interrupted"
        raise
    except KeyboardInterrupt:
        record["status"] = "interrupted"
        record["interrupted_in"] = where()
        raise RunInterrupted(run_dir, record["interrupted_in"]) from None
    except BaseException:
        record.setdefault("status", "crashed")  # unless the body said how it ended (e.g. failed)
        raise
    finally:
        record["finished_at"] = utc_now()
        leaving = sys.exc_info()[1]  # the error on its way out, if any
        try:
            write_json(run_dir / "run.json", record)
            finish()
        except OSError as full:  # the disk filled: the files written before stay whole
            if full.errno != errno.ENOSPC or leaving is None:
                raise
            # an error is already on its way out (that same full disk, most likely): it is the one said


def save(run_dir: Path, record: dict[str, Any]) -> None:
    write_json(run_dir / "run.json", record)
