"""Deterministic seed data: the same rows, ids and credentials on every run.

User n (1-based) logs in as `user{n}@example.com` with password `password-{n}`; their
reports have ids (n-1)*REPORTS_PER_USER+1 .. n*REPORTS_PER_USER. The load generator and
the verify script rely on these rules instead of querying the database.
"""

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from domain import tokens
from domain.schema import Base

SEED = 20260101
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
THEMES = ("light", "dark", "system")
LANGUAGES = ("en", "de", "fr", "es", "ja")
TIMEZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo")
EXPORT_STATUSES = ("done", "done", "failed", "queued")
# Tables that the load writes to; everything else is read-only during a run.
WRITTEN_TABLES = ("sessions", "export_jobs", "audit_events", "notifications", "usage_records")


@dataclass(frozen=True)
class SeedSize:
    users: int = 1000
    reports_per_user: int = 20
    items_per_report: int = 10
    # share of reports that already have an export job
    exported_share: float = 0.2


DEFAULT_SIZE = SeedSize()


def email_for(user: int) -> str:
    return f"user{user}@example.com"


def password_for(user: int) -> str:
    return f"password-{user}"


def report_ids_for(user: int, size: SeedSize = DEFAULT_SIZE) -> range:
    first = (user - 1) * size.reports_per_user + 1
    return range(first, first + size.reports_per_user)


def _rows(size: SeedSize) -> dict[str, list[tuple[object, ...]]]:
    rng = random.Random(SEED)
    rows: dict[str, list[tuple[object, ...]]] = {
        t: [] for t in ("users", "profiles", "preferences", "reports", "report_items", "export_jobs")
    }
    export_id = 0
    for user in range(1, size.users + 1):
        joined = EPOCH + timedelta(minutes=user)
        salt = f"salt{user:05d}"
        name = f"User {user}"
        rows["users"].append(
            (user, email_for(user), name, tokens.hash_password(password_for(user), salt), joined)
        )
        rows["profiles"].append(
            (user, f"{name} ({rng.choice('ABCDEFGH')})", f"Company {rng.randint(1, 200)}",
             rng.choice(TIMEZONES), f"Bio of user {user}: " + "x" * rng.randint(20, 120))
        )
        rows["preferences"].append(
            (user, rng.choice(THEMES), rng.choice(LANGUAGES), rng.random() < 0.5)
        )
        for report in report_ids_for(user, size):
            created = joined + timedelta(hours=rng.randint(1, 24 * 300), seconds=report)
            rows["reports"].append((report, user, f"Report {report}: {rng.choice(THEMES)} metrics", created))
            for position in range(1, size.items_per_report + 1):
                rows["report_items"].append(
                    (report, position, f"metric-{position}", round(rng.uniform(0, 10_000), 2))
                )
            if rng.random() < size.exported_share:
                export_id += 1
                rows["export_jobs"].append(
                    (export_id, report, user, rng.choice(("pdf", "csv")), rng.choice(EXPORT_STATUSES),
                     None, created + timedelta(minutes=5))
                )
    return rows


def rows_digest(size: SeedSize = DEFAULT_SIZE) -> str:
    """A fingerprint of the seed rows: equal on every machine, for tests and results."""
    import hashlib

    h = hashlib.sha256()
    for table, rows in sorted(_rows(size).items()):
        h.update(table.encode())
        for row in rows:
            h.update(repr(row).encode())
    return h.hexdigest()[:16]


def _copy_text(rows: list[tuple[object, ...]]) -> Iterator[str]:
    for row in rows:
        yield "\t".join("\\N" if v is None else str(v) for v in row) + "\n"


def create_schema(conninfo: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(conninfo.replace("postgresql://", "postgresql+psycopg://", 1))
    Base.metadata.create_all(engine)
    engine.dispose()


def seed(conninfo: str, size: SeedSize = DEFAULT_SIZE) -> dict[str, int]:
    """Create the baseline schema (primary keys only) and load the seed rows."""
    create_schema(conninfo)
    rows = _rows(size)
    columns = {
        "users": "id, email, name, password_hash, created_at",
        "profiles": "user_id, display_name, company, timezone, bio",
        "preferences": "user_id, theme, language, email_notifications",
        "reports": "id, owner_id, title, created_at",
        "report_items": "report_id, position, label, value",
        "export_jobs": "id, report_id, requested_by, format, status, pages, created_at",
    }
    with psycopg.connect(conninfo) as conn:
        for table, cols in columns.items():
            buf = io.StringIO("".join(_copy_text(rows[table])))
            with conn.cursor().copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                copy.write(buf.read())
        # explicit ids were copied: move the sequences past them
        for table in ("export_jobs",):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        conn.commit()
        conn.autocommit = True
        # Vacuumed and frozen, not just analyzed: left to autovacuum, the big tables were vacuumed
        # ~90 s after seeding (inside the harness's first window, on the budget CPU) and the
        # 1,000-row ones, under its insert threshold, never, so copies of this database made early
        # and late differed (visibility map set or not). Now every copy starts from the same pages.
        conn.execute("VACUUM (FREEZE, ANALYZE)")
    return {table: len(r) for table, r in rows.items()}


def reset(conninfo: str) -> None:
    """Drop the domain's tables (and any index a stage added) for a clean re-seed."""
    from sqlalchemy import create_engine

    engine = create_engine(conninfo.replace("postgresql://", "postgresql+psycopg://", 1))
    Base.metadata.drop_all(engine)
    engine.dispose()


def main(argv: list[str] | None = None) -> None:
    """`python -m domain.seed [--reset] [--migrate FILE ...]`: seed LADDER_DATABASE_URL.

    What a compose profile runs before its services start (the harness seeds a template
    database itself and copies it per stage instead).
    """
    import argparse
    from pathlib import Path

    from domain.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m domain.seed", description=main.__doc__)
    parser.add_argument("--reset", action="store_true", help="drop the tables first")
    parser.add_argument("--migrate", nargs="*", default=[], type=Path, help="SQL files to apply after seeding")
    args = parser.parse_args(argv)
    url = get_settings().database_url
    if args.reset:
        reset(url)
    counts = seed(url)
    with psycopg.connect(url, autocommit=True) as conn:
        for migration in args.migrate:
            conn.execute(migration.read_text().encode())
    print(f"seeded {counts}; migrations: {[str(m) for m in args.migrate]}")


if __name__ == "__main__":
    main()
