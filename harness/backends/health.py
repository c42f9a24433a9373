"""Waiting until what a backend started can serve: the stage's services (their /healthz) and
PostgreSQL (a connection). One loop each, for every backend: each says only how to tell that
its thing has died, and what its last words were."""

import re
import time
from collections.abc import Callable

import httpx
import psycopg

from harness import interrupts
from harness.errors import StageFailed, UserError


def served_paths(url: str, client: httpx.Client) -> list[str]:
    """The paths the app's OpenAPI document lists (at /openapi.json), or none when it has none there."""
    try:
        answer = client.get(str(httpx.URL(url).copy_with(path="/openapi.json", query=None)))
        return sorted(answer.json().get("paths", {})) if answer.status_code == 200 else []
    except (httpx.HTTPError, ValueError, AttributeError):
        return []


ERROR_LINE = re.compile(r"^(?:[\w.]+\.)?\w*(?:Error|Exception|Exit)\b.*")


def last_error(log: str) -> str:
    """The last exception a service's log names ("ModuleNotFoundError: No module named 'x'"), as
    the end of the line that says it did not start: what to fix, without opening the log."""
    found = [line.strip() for line in log.splitlines() if ERROR_LINE.match(line.strip())]
    return f": {found[-1][:200]}" if found else ""


def wait_until_healthy(stage_id: str, urls: dict[str, str], timeout: float,
                       exited: Callable[[str], str | None], logs: Callable[[], dict[str, str]],
                       interval: float = 0.2, field: str = "") -> None:
    """Until every service's health path answers 200. `exited(name)` says how a service that has
    already died ended (None while it runs): that fails the stage at once, with the logs. A path
    answered with the same 4xx twice in a row fails it at once too: the app is up and serving,
    the path is wrong (`field`: where it was given), and the line lists what the app does serve."""
    pending = dict(urls)
    client_errors: dict[str, int] = {}
    last: dict[str, str] = {}  # each pending service's last answer, for the line that gives up on it
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2) as client:
        while pending:
            interrupts.check()
            for name, url in list(pending.items()):
                if (how := exited(name)) is not None:
                    kept = logs()
                    raise StageFailed(f"{stage_id}: service {name} exited at start{how}"
                                      f"{last_error(kept.get(name, ''))}", kept)
                try:
                    status = client.get(url).status_code
                except httpx.HTTPError as error:
                    last[name] = f"{type(error).__name__}"
                    continue
                if status == 200:
                    del pending[name]
                elif 400 <= status < 500 and client_errors.get(name) == status:
                    path = httpx.URL(url).path
                    paths = served_paths(url, client)
                    serves = f"the app serves {', '.join(paths[:12])}{' …' if len(paths) > 12 else ''}" if paths \
                        else "the app lists no paths at /openapi.json"
                    raise StageFailed(f"{stage_id}: {name} answered {status} to its health path GET {path}: {serves}"
                                      + (f" (change {field})" if field else ""), logs())
                client_errors[name] = status if 400 <= status < 500 else 0
                last[name] = f"answered {status}"
            if pending and time.monotonic() > deadline:
                said = "; ".join(f"GET {httpx.URL(pending[n]).path} {last.get(n, 'no answer')}" for n in pending)
                raise StageFailed(f"{stage_id}: {', '.join(pending)} not healthy after {timeout:.0f}s ({said})",
                                  logs())
            if pending:
                time.sleep(interval)


def wait_for_postgres(url: str, timeout: float, died: Callable[[], bool], last_words: Callable[[], str],
                      what: str = "PostgreSQL", interval: float = 0.2) -> None:
    """Until a connection to `url` succeeds; a server that died or never answers is a user error
    carrying its last log lines."""
    deadline = time.monotonic() + timeout
    while True:
        interrupts.check()
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if died() or time.monotonic() > deadline:
                raise UserError(f"{what} failed to start: {last_words()}") from None
            time.sleep(interval)
