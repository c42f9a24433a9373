"""A FastAPI service that is not the ladder's, in a git repository of its own, for the tests of
`run-all --service`: notes with tags, signed in with an OAuth2 password form, SQLAlchemy on a
sync psycopg driver, Alembic migrations, its first user and its notes made by scripts, settings
read from separate environment variables, endpoints both `def` (in the threadpool) and `async def`.

Two commits: *before* lists a user's notes with one query for the notes and one more per note for
its tags (N+1); *after* loads the tags with the notes (selectinload) and adds the index the listing
filters on (a second migration). Extra branches break it on purpose, one way each, for the tests
of what a run says about a broken variant.
"""

import subprocess
from pathlib import Path

FILES = {
    "pyproject.toml": '''\
[project]
name = "notes"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = [
    "fastapi>=0.110",
    "sqlalchemy>=2.0",
    "psycopg[binary]>=3.1",
    "alembic>=1.12",
    "python-multipart>=0.0.9",
]
''',
    "alembic.ini": '''\
[alembic]
script_location = migrations
''',
    "migrations/env.py": '''\
from alembic import context
from sqlalchemy import create_engine

from notes.settings import database_url

with create_engine(database_url()).connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
''',
    "migrations/versions/0001_initial.py": '''\
"""users, notes, tags"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table("users", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("email", sa.String(200), nullable=False, unique=True),
                    sa.Column("password_hash", sa.String(200), nullable=False))
    op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
                    sa.Column("title", sa.String(200), nullable=False), sa.Column("body", sa.Text, nullable=False))
    op.create_table("tags", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("name", sa.String(50), nullable=False, unique=True))
    op.create_table("note_tags", sa.Column("note_id", sa.Integer, sa.ForeignKey("notes.id"), primary_key=True),
                    sa.Column("tag_id", sa.Integer, sa.ForeignKey("tags.id"), primary_key=True))
''',
    "notes/__init__.py": "",
    "notes/settings.py": '''\
"""Settings from separate environment variables, as many services read them."""
import os


def database_url() -> str:
    return (f"postgresql+psycopg://{os.environ['NOTES_DB_USER']}:{os.environ['NOTES_DB_PASSWORD']}"
            f"@{os.environ['NOTES_DB_HOST']}:{os.environ['NOTES_DB_PORT']}/{os.environ['NOTES_DB_NAME']}")


SECRET_KEY = os.environ.get("NOTES_SECRET_KEY", "")
''',
    "notes/db.py": '''\
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from notes.settings import database_url

engine = create_engine(database_url(), pool_size=10, max_overflow=10)
Session = sessionmaker(engine, expire_on_commit=False)
''',
    "notes/models.py": '''\
from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


note_tags = Table("note_tags", Base.metadata, Column("note_id", ForeignKey("notes.id"), primary_key=True),
                  Column("tag_id", ForeignKey("tags.id"), primary_key=True))


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))


class Tag(Base):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[Tag]] = relationship(secondary=note_tags, lazy="select", order_by=Tag.id)
''',
    "notes/auth.py": '''\
import hashlib
import hmac

from notes.settings import SECRET_KEY

ITERATIONS = 20_000


def hash_password(password: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), b"notes", ITERATIONS).hex()


def token_for(user_id: int) -> str:
    mac = hmac.new(SECRET_KEY.encode(), str(user_id).encode(), "sha256").hexdigest()
    return f"{user_id}.{mac}"


def user_of(token: str) -> int | None:
    user_id, _, mac = token.partition(".")
    if not user_id.isdigit() or not hmac.compare_digest(token_for(int(user_id)), token):
        return None
    return int(user_id)
''',
    "notes/listing.py": '''\
from sqlalchemy import select

from notes.models import Note


def latest_notes(session, user_id: int) -> list[Note]:
    # the tags of each note are loaded when the answer reads them: one query more per note
    notes = session.scalars(select(Note).where(Note.owner_id == user_id).order_by(Note.id.desc()).limit(20)).all()
    return list(notes)
''',
    "notes/main.py": '''\
from typing import Annotated

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy import select

from notes import auth
from notes.db import Session
from notes.listing import latest_notes
from notes.models import Note, Tag, User

app = FastAPI()


class NoteIn(BaseModel):
    title: str
    body: str
    tags: list[str] = []


def current_user(request: Request) -> int:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    user = auth.user_of(token) if scheme == "Bearer" else None
    if user is None:
        raise HTTPException(401, "not signed in")
    return user


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/token")
def token(username: Annotated[str, Form()], password: Annotated[str, Form()]) -> dict[str, str]:
    with Session() as session:
        user = session.scalars(select(User).where(User.email == username)).first()
    if user is None or user.password_hash != auth.hash_password(password):
        raise HTTPException(401, "wrong email or password")
    return {"access_token": auth.token_for(user.id), "token_type": "bearer"}


class SignUpIn(BaseModel):
    email: str
    password: str


@app.post("/signup", status_code=201)
def signup(body: SignUpIn) -> dict[str, int]:
    with Session() as session, session.begin():
        if session.scalars(select(User).where(User.email == body.email)).first() is not None:
            raise HTTPException(409, "this email has an account")
        user = User(email=body.email, password_hash=auth.hash_password(body.password))
        session.add(user)
        session.flush()
        return {"id": user.id}


@app.get("/me")
async def me(user: Annotated[int, Depends(current_user)]) -> dict[str, int]:
    return {"id": user}


@app.get("/notes")
def notes(user: Annotated[int, Depends(current_user)]) -> list[dict[str, object]]:
    with Session() as session:
        return [{"id": n.id, "title": n.title, "tags": [t.name for t in n.tags]}
                for n in latest_notes(session, user)]


@app.post("/notes", status_code=201)
def add_note(note: NoteIn, user: Annotated[int, Depends(current_user)]) -> dict[str, int]:
    with Session() as session, session.begin():
        tags = list(session.scalars(select(Tag).where(Tag.name.in_(note.tags))).all())
        row = Note(owner_id=user, title=note.title, body=note.body, tags=tags)
        session.add(row)
    return {"id": row.id}
''',
    "scripts/create_first_user.py": '''\
"""The first user, as a deployment's start script makes it."""
from notes import auth
from notes.db import Session
from notes.models import User

with Session() as session, session.begin():
    session.add(User(id=1, email="user1@example.com", password_hash=auth.hash_password("pw1")))
''',
    "scripts/seed.py": '''\
"""Users 2..20, ten tags, thirty notes each with three tags: the same every time."""
from sqlalchemy import text

from notes import auth
from notes.db import Session
from notes.models import Note, Tag, User

with Session() as session, session.begin():
    tags = [Tag(id=i, name=f"t{i}") for i in range(1, 11)]
    session.add_all(tags)
    for user in range(2, 21):
        session.add(User(id=user, email=f"user{user}@example.com", password_hash=auth.hash_password(f"pw{user}")))
    session.flush()
    for user in range(1, 21):
        for i in range(30):
            session.add(Note(owner_id=user, title=f"note {i} of {user}", body="text " * 20,
                             tags=[tags[(user + i + k) % 10] for k in range(3)]))
    session.execute(text("SELECT setval('users_id_seq', 20)"))
''',
    "ladder.toml": '''\
name = "notes"

[start]
app = "notes.main:app"
health = "/health"

[database]
setup = ["alembic upgrade head", "python scripts/create_first_user.py", "python scripts/seed.py"]

[env]
NOTES_DB_HOST = "{db.host}"
NOTES_DB_PORT = "{db.port}"
NOTES_DB_USER = "{db.user}"
NOTES_DB_PASSWORD = "{db.password}"
NOTES_DB_NAME = "{db.name}"
NOTES_SECRET_KEY = "{secret}"

[load.sign_in]
path = "/token"
form = { username = "user{account}@example.com", password = "pw{account}" }
accounts = 20

[[load.requests]]
path = "/notes"
weight = 8

[[load.requests]]
path = "/me"
weight = 2

[[load.requests]]
name = "add a note"
method = "POST"
path = "/notes"
json = { title = "note {seq}", body = "written under load", tags = ["t{random:1-10}"] }
write = true

[[verify]]
path = "/notes"

[[verify]]
path = "/me"

[writes]
count = "SELECT count(*) FROM notes"
''',
}

AFTER = {
    "notes/listing.py": '''\
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from notes.models import Note


def latest_notes(session, user_id: int) -> list[Note]:
    # the tags of all twenty notes in one more query, not one per note
    query = select(Note).where(Note.owner_id == user_id).order_by(Note.id.desc()).limit(20)
    return list(session.scalars(query.options(selectinload(Note.tags))).all())
''',
    "migrations/versions/0002_notes_owner_index.py": '''\
"""the index the listing filters on"""
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_index("notes_owner_id", "notes", ["owner_id", "id"])
''',
}

# one way each to break the service, on branches from *after*
BROKEN = {
    "crashes": {"notes/main.py": "raise RuntimeError('this variant does not start')\n"},
    "fails-everything": {"notes/listing.py": AFTER["notes/listing.py"].replace(
        "    query = select", "    raise RuntimeError('broken')\n    query = select")},
    "bad-migration": {"migrations/versions/0002_notes_owner_index.py": AFTER[
        "migrations/versions/0002_notes_owner_index.py"].replace('["owner_id", "id"]', '["no_such_column"]')},
}


# the gate's calibration (scripts/calibrate_gate.py): a fixed amount of work per signed-in request
EXTRA_WORK = '''

def extra_work(iterations: int = ITERATIONS) -> int:
    """Calibration: a fixed amount of CPU work per signed-in request, and nothing else changed."""
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return total
'''


def add_calm_branch(repo: Path) -> None:
    """Branch `calm`: *after* with a connection pool as large as the threadpool (40), so work added
    to a request cannot make the pool overflow and open connections: the calibration's base, where
    an effect's cost is the work's own."""
    _git(repo, "checkout", "-q", "-B", "calm", "after")
    db = (repo / "notes/db.py").read_text()
    (repo / "notes/db.py").write_text(db.replace("pool_size=10, max_overflow=10", "pool_size=40, max_overflow=0"))
    _git(repo, "commit", "-q", "-am", "a pool as large as the threadpool")
    _git(repo, "checkout", "-q", "main")


def add_same_branch(repo: Path, base: str = "after") -> None:
    """Branch `same`: an empty commit on BASE, the candidate of an A/A pair."""
    _git(repo, "branch", "-f", "same", base)
    _git(repo, "checkout", "-q", "same")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "nothing changes")
    _git(repo, "checkout", "-q", "main")


def add_slower_branch(repo: Path, iterations: int, base: str = "after") -> None:
    """Branch `slower`: BASE with `extra_work(iterations)` in every signed-in request."""
    _git(repo, "checkout", "-q", "-B", "slower", base)
    main = (repo / "notes/main.py").read_text()
    main = main.replace("app = FastAPI()\n", f"app = FastAPI()\nITERATIONS = {iterations}\n" + EXTRA_WORK)
    main = main.replace("    if user is None:\n        raise HTTPException(401, \"not signed in\")\n    return user",
                        "    if user is None:\n        raise HTTPException(401, \"not signed in\")\n    extra_work()\n"
                        "    return user")
    assert "    extra_work()" in main
    (repo / "notes/main.py").write_text(main)
    _git(repo, "commit", "-q", "-am", f"every signed-in request does {iterations} iterations more")
    _git(repo, "checkout", "-q", "main")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(repo), "PATH": "/usr/bin:/bin"})


def _write(repo: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def make_repository(repo: Path, broken: bool = False) -> Path:
    """The service's repository: branch `before`, branch `after` (and the broken branches), main at after."""
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    _write(repo, FILES)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "notes: list a user's notes with their tags")
    _git(repo, "branch", "before")
    _write(repo, AFTER)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "notes: load the tags with the notes (no N+1), index the listing")
    _git(repo, "branch", "after")
    if broken:
        for name, files in BROKEN.items():
            _git(repo, "checkout", "-q", "-b", name, "after")
            _write(repo, files)
            _git(repo, "commit", "-q", "-am", f"break it: {name}")
        _git(repo, "checkout", "-q", "main")
    return repo


if __name__ == "__main__":  # the README's reference run: python tests/service_fixture.py /tmp/notes
    import sys
    print(make_repository(Path(sys.argv[1])))
