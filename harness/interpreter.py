"""Which Python runs the services, and how it was built: the interpreter is part of the budget.

A CPython whose executable links libpython as a shared library (`--enable-shared`: pyenv's and
many source builds' default) calls through the library's position-independent entry points all
through its evaluation loop; a statically linked build (Debian's and Ubuntu's /usr/bin/python3.X,
which the Docker images run) does not. On the reference machine the static build ran the host-speed
watcher's pure-Python burst ~27 % faster, but the services within ~5 % either way: their time is
mostly in C extensions (asyncpg, uvloop, httptools, pydantic-core), PostgreSQL and the kernel. So
the watcher's units/s are only comparable between runs on the same build, and run.json names it.
Every stage of a run uses one interpreter; `make setup` builds the venv from a static build where
one is installed (scripts/pick-python.sh), the same build as the Docker images.
"""

import functools
import json
import subprocess
import sys
from typing import Any

# run by the interpreter being described: the services' own, not necessarily the harness's
PROBE = r"""
import json, os, platform, sys, sysconfig
with open("/proc/self/maps") as maps:
    shared = "libpython" in maps.read()
args = sysconfig.get_config_var("CONFIG_ARGS") or ""
print(json.dumps({
    "executable": sys.executable, "real_path": os.path.realpath(sys.executable),
    "version": platform.python_version(), "implementation": platform.python_implementation(),
    "libpython": "shared" if shared else "static",
    "configure_flags": [f for f in ("--enable-optimizations", "--with-lto", "--enable-shared") if f in args],
}))
"""


def describe(argv: list[str] | None = None) -> dict[str, Any]:
    """The interpreter `argv` starts (default: this one, which the local backend's services run on)."""
    argv = argv or [sys.executable]
    try:
        done = subprocess.run([*argv, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return {"executable": " ".join(argv), "error": str(exc)[:200]}
    return parse(done.stdout, " ".join(argv))


@functools.cache
def this_interpreter() -> dict[str, Any]:
    """This process's interpreter (the local backend's services run on it), described once: run-all's
    opening line and the run's record both ask."""
    return describe()


def parse(output: str, where: str) -> dict[str, Any]:
    """The PROBE's output (its last line), wherever it ran."""
    try:
        record: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        return {"executable": where, "error": f"unreadable probe output: {exc}"}
    return record


def summary(record: dict[str, Any]) -> str:
    """One phrase for a line of output or the report: path, version, linkage."""
    if "error" in record:
        return f"{record.get('executable')} (not described: {record['error']})"
    return f"{record['real_path']} (Python {record['version']}, libpython {record['libpython']})"


def different_build_note(record: dict[str, Any]) -> str | None:
    """One line when the services run on a shared-libpython build (None otherwise)."""
    if record.get("libpython") != "shared":
        return None
    return (f"services run on {summary(record)}, not a static build like the Docker images' (the host-speed "
            "units/s differ ~27 % between the two): `make clean setup` builds .venv from /usr/bin/python3.X "
            "where installed")
