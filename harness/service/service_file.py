"""The service file, `ladder.toml` in the user's repository: how the harness installs, starts,
feeds and loads a FastAPI service it did not write (docs/service.md gives every field).

Validated with pydantic before anything starts; a field missing or of the wrong type is one line
that names it. Values in [env], the set-up commands and the start command may name the run's
facts in braces (`Placeholders`); the harness fills them, the service reads them however it reads
its settings.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.errors import UserError

SERVICE_FILE = "ladder.toml"
# what a placeholder may name: the database's parts and its URL in a driver's form, the port and
# workers the harness gives the service, a secret made for the run
PLACEHOLDER = re.compile(r"\{(db\.(host|port|user|password|name)|db\.url(:[a-z0-9+]+)?|port|workers|secret)\}")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Environment(Strict):
    """How the service's Python environment is made (one per variant, cached by its inputs)."""
    # a PEP 440 specifier; default: the project's `requires-python`, else any Python found
    python: str | None = None
    # requirement files, relative to `root`; default: requirements.txt, else pyproject.toml's
    # dependencies ([project] or [tool.poetry])
    requirements: list[str] = []
    # a lock file the installed versions must match; default: the first of uv.lock, poetry.lock,
    # pdm.lock, Pipfile.lock found in `root` or the repository's top
    lock: str | None = None
    # also install the project itself (`pip install .`), for a package the app imports installed
    install_project: bool = False
    # packages the service needs beyond its files (a driver it leaves to the deployer)
    extra: list[str] = []


class Start(Strict):
    """How the service starts: an ASGI app served as the ladder serves s5 (gunicorn managing
    uvicorn workers sized from the budget, access log off), or a command of its own."""
    app: str | None = Field(default=None, pattern=r"^[\w.]+:[\w.]+$")
    command: str | None = None
    workers_per_cpu: float = Field(default=1.0, gt=0)
    health: str = Field(default="/", pattern=r"^/")
    timeout: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _one_way(self) -> Start:
        if (self.app is None) == (self.command is None):
            raise ValueError("give exactly one of start.app and start.command")
        if self.command is not None and "{port}" not in self.command:
            raise ValueError("start.command must listen on {port}")
        return self


class Database(Strict):
    kind: Literal["postgres", "none"] = "postgres"
    # run in order before any window, in the variant's folder and environment, with [env] set
    # (migrations, a seed script); each variant's result is the template every measurement copies
    setup: list[str] = []


class Body(Strict):
    """A request: method, path, and a JSON or form body. Placeholders in the path and the body's
    strings: {account} (the signed-in account's number), {seq} (this user's running count),
    {random:LO-HI} (from the user's own seeded generator)."""
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str = Field(pattern=r"^/")
    json_body: Any = Field(default=None, alias="json")
    form: dict[str, str] | None = None
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_body(self) -> Body:
        if self.json_body is not None and self.form is not None:
            raise ValueError("a request has a json or a form body, not both")
        return self


class SignIn(Body):
    """How each user signs in, and where the token is in the answer."""
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    token: str = "access_token"  # a dotted path into the JSON answer
    header: str = "Authorization"
    scheme: str = "Bearer"
    accounts: int = Field(default=1, ge=1)  # users take accounts 1..accounts in turn ({account})


class LoadRequest(Body):
    name: str | None = None  # as the tables name it; default: "METHOD path"
    weight: int = Field(default=1, ge=1)
    write: bool = False  # its 2xx answers are acknowledged writes (see [writes])

    def label(self) -> str:
        return self.name or f"{self.method} {self.path}"


class SignUp(Body):
    """How the accounts the users sign in with are made, through the service's own route: sent
    once per account ({account}: 1..sign_in.accounts) into each variant's template, after its set-up
    commands and before any window. A 2xx makes the account; a 4xx says it exists already."""
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"


class Load(Strict):
    users: int | None = Field(default=None, ge=1)  # default: the run's (--users, --quick)
    locustfile: str | None = None  # your own, instead of requests (relative to the service file)
    sign_in: SignIn | None = None
    sign_up: SignUp | None = None
    requests: list[LoadRequest] = []

    @model_validator(mode="after")
    def _one_way(self) -> Load:
        if (self.locustfile is None) == (not self.requests):
            raise ValueError("give load.requests or load.locustfile, not both and not neither")
        if self.locustfile and self.sign_in:
            raise ValueError("load.sign_in is for load.requests; your locustfile signs in itself")
        if self.sign_up and not self.sign_in:
            raise ValueError("load.sign_up makes the accounts load.sign_in uses: give load.sign_in too")
        names = [r.label() for r in self.requests]
        if len(set(names)) != len(names):
            raise ValueError(f"load.requests: two requests share a name ({', '.join(sorted(names))})")
        return self


class VerifyRequest(Body):
    name: str | None = None
    signed_in: bool = True  # sent with the token of account 1 (when load.sign_in is given)
    ignore: list[str] = []  # answer fields that may differ between variants, at any depth

    def label(self) -> str:
        return self.name or f"{self.method} {self.path}"


class Writes(Strict):
    """Acknowledged writes, accounted: the rows `count` finds after the load, less those before,
    must be at least the 2xx answers of the requests marked `write = true`."""
    count: str = Field(pattern=r"(?i)^\s*select\b")


class ServiceFile(Strict):
    name: str = Field(pattern=r"^[A-Za-z][\w-]*$")
    # the folder the service runs from and its own code lives in, relative to this file
    root: str = "."
    environment: Environment = Environment()
    start: Start
    database: Database = Database()
    env: dict[str, str] = {}
    load: Load
    verify: list[VerifyRequest] = []
    writes: Writes | None = None
    folder: Path = Path()  # where the file was read from (not a field of the file)

    @model_validator(mode="after")
    def _placeholders(self) -> ServiceFile:
        texts = [*self.env.values(), *self.database.setup, self.start.command or ""]
        for text in texts:
            for name in re.findall(r"\{([^{}]*)\}", text):
                if not PLACEHOLDER.fullmatch(f"{{{name}}}"):
                    raise ValueError(f"unknown placeholder {{{name}}} (known: db.host, db.port, db.user, "
                                     "db.password, db.name, db.url, db.url:DRIVER, port, workers, secret)")
        if self.database.kind == "none" and any("{db." in t for t in texts):
            raise ValueError("a {db.…} placeholder with database.kind = 'none'")
        if self.writes and not any(r.write for r in self.load.requests):
            raise ValueError("writes.count needs a load request with write = true")
        return self

    @property
    def root_path(self) -> Path:
        return (self.folder / self.root).resolve()

    def writes_acknowledged_by(self) -> list[str]:
        return [r.label() for r in self.load.requests if r.write]


def find_service_file(path: Path) -> Path:
    """The service file at `path`, or `path`/ladder.toml."""
    candidate = path / SERVICE_FILE if path.is_dir() else path
    if not candidate.is_file():
        raise UserError(f"no service file at {candidate} (write one with `harness init {path}`)")
    return candidate.resolve()


def read_service_file(path: Path) -> ServiceFile:
    """The validated service file; one line naming the field for anything wrong in it."""
    found = find_service_file(path)
    try:
        data = tomllib.loads(found.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{found}: not TOML: {exc}") from None
    try:
        service = ServiceFile.model_validate({**data, "folder": found.parent})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise UserError(f"{found}: {where}: {first['msg']}") from None
    if not service.root_path.is_dir():
        raise UserError(f"{found}: root: {service.root} is not a folder")
    return service


def fill(text: str, values: dict[str, str]) -> str:
    """`text` with every placeholder replaced by its value."""
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
