"""PostgreSQL for a run: an embedded private server, or one named by LADDER_DATABASE_URL.

The embedded server is Debian's PostgreSQL started on a private data directory, on
loopback and a free port, pinned to the server CPUs (its backends inherit the affinity),
with pg_stat_statements loaded so statements per request can be counted.
"""

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
import psycopg.conninfo
from psycopg import sql

from harness import interrupts
from harness.backends.health import wait_for_postgres
from harness.cpu import ServerPlacement
from harness.errors import UserError
from harness.ownership import PG_DIR_PREFIX, owner

TEMPLATE_DB = "ladder_template"
STAGE_DB = "ladder"
ADMIN_USER = "ladder"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_bindir() -> Path:
    """LADDER_PG_BINDIR, else the newest Debian PostgreSQL, else pg_ctl on PATH."""
    if env := os.environ.get("LADDER_PG_BINDIR"):
        if not (Path(env) / "postgres").is_file() or not (Path(env) / "initdb").is_file():
            raise UserError(f"LADDER_PG_BINDIR={env} has no postgres and initdb binaries")
        return Path(env)
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if versions:
        return versions[-1].parent
    if found := shutil.which("postgres"):
        return Path(found).resolve().parent
    raise UserError("PostgreSQL not found: install it (apt-get install postgresql postgresql-contrib) "
                    "or set LADDER_DATABASE_URL to an existing server")


# The server's settings, one list for every way the ladder runs PostgreSQL: the embedded server,
# the docker backend's container and docker-compose.yml's. pg_stat_statements counts statements
# per request (utility statements such as SET and BEGIN are not the stage's queries); 600
# connections hold the baseline's connection per unit of work under 150 users.
SERVER_SETTINGS: dict[str, str] = {
    "max_connections": "600",
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",
    "pg_stat_statements.track_utility": "off",
}


def server_command(settings: dict[str, str] = SERVER_SETTINGS) -> list[str]:
    """`postgres -c key=value …` for a container (the official image's entry point takes it)."""
    return ["postgres", *[arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]]


@dataclass
class EmbeddedPostgres:
    """A private PostgreSQL for one run; `url` is an admin URL to its `postgres` database."""

    placement: ServerPlacement
    process: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None
    url: str = ""

    def start(self, timeout: float = 60.0) -> str:
        bindir = find_bindir()
        self.workdir = Path(tempfile.mkdtemp(prefix=PG_DIR_PREFIX))
        (self.workdir / "owner").write_text(owner())  # for `harness cleanup` after a kill -9
        data = self.workdir / "data"
        password = secrets.token_urlsafe(18)
        pwfile = self.workdir / "pwfile"
        pwfile.write_text(password + "\n")
        run_as = _unprivileged_user()
        if run_as:
            shutil.chown(self.workdir, run_as.pw_name)
            shutil.chown(pwfile, run_as.pw_name)
        user = run_as.pw_name if run_as else None
        init = _run_checked(
            [str(bindir / "initdb"), "-D", str(data), "-U", ADMIN_USER, f"--pwfile={pwfile}",
             "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync"],
            user,
        )
        pwfile.unlink()
        if init.returncode != 0:
            self.stop()
            last = (init.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"PostgreSQL failed to start: initdb: {last}")
        self.url = self._serve(bindir, data, password, run_as, timeout)
        return self.url

    def clone(self, timeout: float = 60.0) -> "EmbeddedPostgres":
        """A second server with a copy of this one's databases as they are now (pg_basebackup over
        its socket), on the same CPUs: a side-by-side window gives each variant a server of its
        own, so each one's PostgreSQL CPU is its server's whole tree, exact."""
        assert self.workdir is not None and self.url
        bindir, run_as = find_bindir(), _unprivileged_user()
        twin = EmbeddedPostgres(self.placement)
        twin.workdir = Path(tempfile.mkdtemp(prefix=PG_DIR_PREFIX))
        (twin.workdir / "owner").write_text(owner())
        if run_as:
            shutil.chown(twin.workdir, run_as.pw_name)
        port = psycopg.conninfo.conninfo_to_dict(self.url)["port"]
        copied = _run_checked([str(bindir / "pg_basebackup"), "-h", str(self.workdir), "-p", str(port),
                               "-U", ADMIN_USER, "-D", str(twin.workdir / "data"), "--no-sync", "-X", "fetch"],
                              run_as.pw_name if run_as else None)
        if copied.returncode != 0:
            twin.stop()
            last = (copied.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"PostgreSQL could not be copied for a second server: pg_basebackup: {last}")
        password = str(psycopg.conninfo.conninfo_to_dict(self.url)["password"])
        twin.url = twin._serve(bindir, twin.workdir / "data", password, run_as, timeout)
        return twin

    def _serve(self, bindir: Path, data: Path, password: str, run_as: pwd.struct_passwd | None,
               timeout: float) -> str:
        """The server on its data folder, on a free port; its admin URL once it answers."""
        assert self.workdir is not None
        log = self.workdir / "postgres.log"
        port = free_port()
        settings = {
            "listen_addresses": "127.0.0.1", "port": str(port),
            "unix_socket_directories": str(self.workdir),
            **SERVER_SETTINGS,
            "logging_collector": "off",
        }
        args = [str(bindir / "postgres"), "-D", str(data)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT,
                preexec_fn=lambda: _enter_then_drop(self.placement, run_as), start_new_session=True,
            )
        url = f"postgresql://{ADMIN_USER}:{password}@127.0.0.1:{port}/postgres"

        def died() -> bool:
            return self.process is not None and self.process.poll() is not None

        def last_words() -> str:
            return " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
        try:
            wait_for_postgres(url, timeout, died, last_words)
        except UserError:
            self.stop()
            raise
        return url

    def pids(self) -> list[int]:
        """The postmaster: the one this started, or, after a restart by someone else (`pg_ctl
        restart`), the one its data folder names (postmaster.pid's first line)."""
        if self.process and self.process.poll() is None:
            return [self.process.pid]
        restarted = self._restarted()
        return [restarted] if restarted else []

    def _restarted(self) -> int | None:
        if self.workdir is None:
            return None
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.workdir / "data" / "postmaster.pid").read_text().splitlines()[0])
            if psutil.pid_exists(pid) and psutil.Process(pid).name() == "postgres":
                return pid
        return None

    def stop(self) -> None:
        with interrupts.deferred():
            self._stop()

    def _stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        elif (restarted := self._restarted()) is not None:  # a server restarted under the run: its too
            with contextlib.suppress(psutil.Error):
                server = psutil.Process(restarted)
                server.send_signal(signal.SIGINT)
                _, alive = psutil.wait_procs([server], timeout=30)
                for process in alive:
                    process.kill()
        self.process = None
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


def _enter_then_drop(placement: ServerPlacement, run_as: pwd.struct_passwd | None) -> None:
    """Pin and join the quota group while still root, then become the unprivileged user
    (Popen's own user= switches before preexec_fn, too early to join a root-owned cgroup)."""
    placement.enter()
    if run_as is not None:
        os.setgroups([])
        os.setgid(run_as.pw_gid)
        os.setuid(run_as.pw_uid)


def _run_checked(argv: list[str], user: str | None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, user=user, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise UserError(f"PostgreSQL failed to start: cannot run {argv[0]}: {exc.strerror}") from None


def _unprivileged_user() -> pwd.struct_passwd | None:
    """PostgreSQL refuses to run as root: run it as `postgres` when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise UserError("running as root needs the 'postgres' system user "
                        "(apt-get install postgresql creates it)") from None


def with_database(url: str, dbname: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{dbname}"


@contextlib.contextmanager
def admin(url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


def prepare_template(admin_url: str) -> dict[str, int]:
    """Seed the template database once per run; each stage gets a fresh copy of it."""
    from domain import seed

    with admin(admin_url) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(STAGE_DB)))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE_DB)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE_DB)))
    return seed.seed(with_database(admin_url, TEMPLATE_DB))  # seeded, vacuumed and frozen


def fresh_stage_database(admin_url: str, migrations: list[Path]) -> str:
    """A new copy of the seeded template, with the stage's migrations applied."""
    with admin(admin_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(STAGE_DB)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(STAGE_DB), sql.Identifier(TEMPLATE_DB)))
    url = with_database(admin_url, STAGE_DB)
    with admin(url) as conn:
        for migration in migrations:
            conn.execute(migration.read_text().encode())
        # the copy's pages are dirty in shared buffers: write them now, before the stage starts,
        # not through the checkpointer in the middle of a measuring window
        conn.execute("CHECKPOINT")
    return url


def drop_databases(admin_url: str) -> None:
    """Leave an external server as the run found it (the embedded one is simply removed)."""
    with interrupts.deferred(), admin(admin_url) as conn:
        for name in (STAGE_DB, TEMPLATE_DB):
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
