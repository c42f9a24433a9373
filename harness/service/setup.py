"""What a variant is given and what runs before it is timed: the placeholders' values, its
process environment, and its set-up commands (migrations, a seed script), which fill the
variant's database template once; every measurement of the variant then starts from a copy.

The service's settings come only through the variables its service file's [env] names, filled
here: services read them in different ways (one URL, or host, port, user, password and name
apart, a driver in the URL's scheme), and the file says which.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from psycopg import sql

from harness.backends.postgres import admin, with_database
from harness.errors import StageFailed
from harness.service.service_file import ServiceFile, fill
from harness.service.variant import ServiceVariant

SETUP_TIMEOUT_S = 600.0


def placeholders(url: str | None, port: int, workers: int, secret: str) -> dict[str, str]:
    """Every placeholder's value: the database's parts from `url` (a PostgreSQL URL naming the
    database the service uses), its port and workers, the run's secret."""
    values = {"port": str(port), "workers": str(workers), "secret": secret}
    if url:
        parts = urlsplit(url)
        database = parts.path.lstrip("/")
        values.update({"db.host": parts.hostname or "", "db.port": str(parts.port or 5432),
                       "db.user": parts.username or "", "db.password": parts.password or "", "db.name": database})
        rest = f"{parts.username}:{parts.password}@{parts.hostname}:{parts.port or 5432}/{database}"
        values["db.url"] = f"postgresql://{rest}"
        for scheme in ("postgresql+psycopg", "postgresql+psycopg2", "postgresql+asyncpg", "postgresql+pg8000",
                       "postgres", "postgresql"):
            values[f"db.url:{scheme}"] = f"{scheme}://{rest}"
    return values


def process_env(service: ServiceFile, variant: ServiceVariant, values: dict[str, str]) -> dict[str, str]:
    """The variant's processes' environment: this one's, minus the harness's own Python, with the
    variant's environment first on PATH, its root importable, and the service file's [env] filled."""
    assert variant.environment is not None
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")}
    env.update({"VIRTUAL_ENV": str(variant.environment.folder), "PYTHONPATH": str(variant.root),
                "PATH": os.pathsep.join([str(variant.environment.bin), env.get("PATH", "")]),
                "PYTHONDONTWRITEBYTECODE": "1"})
    for name, value in service.env.items():
        env[name] = _fill_known(value, values)
    return env


def _fill_known(text: str, values: dict[str, str]) -> str:
    """Fill a placeholder; one the run has no value for (a driver's scheme it does not know) stays a clear error."""
    try:
        return fill(text, values)
    except KeyError as missing:
        raise StageFailed(f"no value for {{{missing.args[0]}}}") from None


def run_setup(service: ServiceFile, variant: ServiceVariant, admin_url: str, secret: str, port: int,
              workers: int, log: Path) -> str:
    """The variant's database template, made once: an empty database, then the set-up commands
    in order; a command that fails fails the variant with its last words."""
    template = f"ladder_variant_{variant.order}"
    with admin(admin_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(template)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(template)))
    env = process_env(service, variant, placeholders(with_database(admin_url, template), port, workers, secret))
    for command in service.database.setup:
        line = _fill_known(command, placeholders(with_database(admin_url, template), port, workers, secret))
        with open(log, "ab") as out:
            out.write(f"$ {line}\n".encode())
            out.flush()
            try:
                done = subprocess.run(["sh", "-c", line], cwd=variant.root, env=env, stdout=out,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=SETUP_TIMEOUT_S,
                                      check=False)
            except subprocess.TimeoutExpired:
                raise StageFailed(f"{variant.id}: set-up `{command}` took over {SETUP_TIMEOUT_S:.0f} s",
                                  {"setup": tail_of(log)}) from None
        if done.returncode != 0:
            raise StageFailed(f"{variant.id}: set-up `{command}` failed (exit {done.returncode}): "
                              f"{last_line(log)}", {"setup": tail_of(log)})
    return template


def tail_of(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


EXCEPTION = re.compile(r"^[\w.]*(Error|Exception|Exit|Failure)\b[^:]*: ")


def last_line(log: Path) -> str:
    """What a failed command said last: its last exception's line where it raised one (a traceback
    often ends in a hint), else its last line."""
    found = [line.strip() for line in tail_of(log, 200).splitlines() if line.strip() and not line.startswith("$ ")]
    raised = [line for line in found if EXCEPTION.match(line)]
    return (raised or found or ["no output"])[-1][:240]


def command_argv(service: ServiceFile, variant: ServiceVariant, values: dict[str, str]) -> list[str]:
    """How the variant starts: its ASGI app served as the ladder serves s5, or its own command."""
    assert variant.environment is not None
    if service.start.app:
        # as optimized/gunicorn.conf.py serves s5: gunicorn supervising uvicorn workers, their
        # number from the budget, no access log, warnings only
        return [str(variant.environment.python), "-m", "gunicorn", service.start.app,
                "--worker-class", "uvicorn_worker.UvicornWorker", "--workers", values["workers"],
                "--bind", f"127.0.0.1:{values['port']}", "--log-level", "warning", "--keep-alive", "75",
                "--graceful-timeout", "10"]
    assert service.start.command is not None
    argv = shlex.split(_fill_known(service.start.command, values))
    found = variant.environment.bin / argv[0]
    return [str(found) if found.is_file() else argv[0], *argv[1:]]


def served_as(service: ServiceFile, argv: list[str]) -> dict[str, Any]:
    """What run.json records of how the service was started (its flags; never its environment)."""
    return {"mode": "app" if service.start.app else "command", "argv": argv[1:] if service.start.app else argv,
            "health": service.start.health}
