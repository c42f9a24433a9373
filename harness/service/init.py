"""`harness init [PATH]`: a commented service file from what the repository shows, for its owner
to finish — the FastAPI app object, the folder it runs from, its dependency files and lock, an
Alembic configuration and start-up scripts, the settings it reads from the environment (named to
the run's database and secret where their names say what they are), a health route, a sign-in
route and a few routes to load, under their routers' prefixes where the code spells them.

Read statically (the source is parsed, never imported: importing a service would need its
environment and its settings), so every guess is marked for checking. The only file it writes is
the one the user asked for, and never over an existing one.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import UserError
from harness.service.declared_settings import Setting, database_driver, declared, dotenv_names, env_files, tracked
from harness.service.environments import LOCKS
from harness.service.routes import RouterId, call_name, literal, routes
from harness.service.service_file import SERVICE_FILE

SKIPPED = {".git", ".venv", "venv", "node_modules", "__pycache__", "tests", "test", "frontend", "site-packages"}
# a setting's name -> the placeholder that fills it (first match wins)
SETTINGS = [
    (re.compile(r"(DATABASE|DB|SQLALCHEMY_DATABASE|POSTGRES|PG)_*(A?SYNC_)?(URL|URI|DSN)$"), "{db.url:%s}"),
    (re.compile(r"(POSTGRES|PG|DB|DATABASE)_*(SERVER|HOST|HOSTNAME)$"), "{db.host}"),
    (re.compile(r"(POSTGRES|PG|DB|DATABASE)_*PORT$"), "{db.port}"),
    (re.compile(r"(POSTGRES|PG|DB|DATABASE)_*(USER|USERNAME)$"), "{db.user}"),
    (re.compile(r"(POSTGRES|PG|DB|DATABASE)_*(PASSWORD|PASS)$"), "{db.password}"),
    (re.compile(r"(POSTGRES|PG|DB|DATABASE)_*(DB|NAME|DATABASE)$"), "{db.name}"),
    (re.compile(r"(SECRET_KEY|JWT_SECRET|SECRET)$"), "{secret}"),
]
SIGN_UP = re.compile(r"(sign-?up|register|users/open)/?$")
# a sign-in route taking JSON (one taking a form is found by its form), and the users collection a
# POST to which makes an account where no sign-up route is named so
SIGN_IN = re.compile(r"(log-?in|sign-?in|token|sessions?)/?$")
USERS = re.compile(r"/users/?$")
# a setting naming the Authorization header's scheme (jwt_token_prefix = "Token")
TOKEN_PREFIX = re.compile(r"token_(prefix|type|scheme)$", re.IGNORECASE)
SCRIPTS = re.compile(r"(initial_data|init_db|seed\w*|create_\w*user\w*|prestart\w*)\.py$")


@dataclass
class Findings:
    root: Path
    app: str | None = None
    health: str | None = None
    openapi: str | None = "/openapi.json"  # the app's schema path (None: the app serves none)
    token_path: str | None = None
    token_form: bool = True  # the sign-in route takes a form (else JSON)
    sign_in_key: str | None = None  # the sign-in body's embedding key
    token: str = "access_token"  # where the sign-in answer holds the token (a dotted path)
    scheme: str | None = None  # the Authorization header's scheme, where the settings name one
    sign_up_path: str | None = None
    sign_up_key: str | None = None
    gets: list[str] = field(default_factory=list)
    settings: dict[str, Setting] = field(default_factory=dict)  # by the variable's name
    alembic: str | None = None  # the folder of alembic.ini, from the root ("." there)
    scripts: list[Path] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)
    lock: str | None = None
    driver: str = "postgresql+psycopg"
    sync_driver: str = "postgresql+psycopg"  # the scheme for sync tools (Alembic) beside an async engine
    driver_note: str = ""  # why the driver is a guess, or what the code's own database is
    env_file: tuple[str, set[str], bool] | None = None  # (as written, the names it sets, committed)


def _python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if not SKIPPED & set(p.relative_to(folder).parts[:-1]))


def _app_of(tree: ast.Module) -> tuple[int, str] | None:
    """The name a module gives its app, with how sure that is (lower is surer): 0 for a module-level
    `x = FastAPI(…)`; 1 for a module-level `app = create_app(…)` (an app factory's product, which is
    what a server imports); 2 for a `FastAPI(…)` made inside a function (the factory itself, which
    no server can import by name)."""
    top = [(n.targets[0].id, n.value) for n in tree.body
           if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)]
    for name, value in top:
        if call_name(value) == "FastAPI":
            return 0, name
    for name, value in top:
        if isinstance(value, ast.Call) and name in ("app", "application"):
            return 1, name
    for inner in ast.walk(tree):
        if isinstance(inner, ast.Assign) and isinstance(inner.targets[0], ast.Name) \
                and call_name(inner.value) == "FastAPI":
            return 2, inner.targets[0].id
    return None





def survey(folder: Path) -> Findings:
    """What the folder's code and files show (see the module's docstring)."""
    top = folder.resolve()
    found = Findings(top)
    trees, code = {}, []
    for path in _python_files(top):
        try:
            code.append(path.read_text(errors="replace"))
            trees[path] = ast.parse(code[-1])
        except SyntaxError:
            continue
    for setting in declared(list(trees.values())):
        # a name read both with and without a default (os.environ[...] here, getenv(..., x) there) is required
        known = found.settings.get(setting.env)
        if known is None or (known.has_default and not setting.has_default):
            found.settings[setting.env] = setting
    app: RouterId | None = None
    apps = sorted((rank, len(path.parts), str(path), name) for path, tree in trees.items()
                  if (made := _app_of(tree)) is not None for rank, name in [made])
    if apps:
        path = Path(apps[0][2])
        found.root = _import_root(path)
        module = ".".join(path.relative_to(found.root).with_suffix("").parts)
        found.app, app = f"{module}:{apps[0][3]}", (module, apps[0][3])

    def default_of(field: str) -> str | None:
        known = next((s for s in found.settings.values() if s.field.split(".")[-1] == field), None)
        return known.default if known else None
    found_routes = routes(trees, found.root, app, default_of)
    for route in found_routes:
        where, method = route.path, route.method
        if "health" in where and method == "GET" and found.health is None:
            found.health = where
        elif method == "POST" and route.form and found.token_path is None:
            found.token_path = where
        elif method == "POST" and SIGN_UP.search(where) and found.sign_up_path is None:
            found.sign_up_path, found.sign_up_key = where, route.body_key
        elif method == "GET" and "{" not in where and not route.admin and len(found.gets) < 3:
            found.gets.append(where)
    if found.token_path is None:  # no form: a route named for signing in, taking JSON
        login = next((r for r in found_routes if r.method == "POST" and SIGN_IN.search(r.path)), None)
        if login is not None:
            found.token_path, found.token_form, found.sign_in_key = login.path, False, login.body_key
            classes = {n.name: n for tree in trees.values() for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
            found.token = _token_path(classes, login.answer) or found.token
            found.scheme = next((s.default for s in found.settings.values()
                                 if TOKEN_PREFIX.search(s.field) and s.default), None)
    if found.token_path and found.sign_up_path is None:
        users = next((r for r in found_routes if r.method == "POST" and USERS.search(r.path) and not r.admin), None)
        if users is not None:
            found.sign_up_path, found.sign_up_key = users.path, users.body_key
    if found.health is None:
        found.openapi = _openapi_url(list(trees.values()), default_of)
    found.scripts = [script for script in trees if SCRIPTS.search(script.name)]
    root = found.root
    ini = next((p for p in [root / "alembic.ini", *sorted(root.glob("*/alembic.ini"))]
                if p.is_file() and not SKIPPED & set(p.relative_to(root).parts)), None)
    found.alembic = str(ini.parent.relative_to(root)) if ini else None
    found.requirements = [p.name for p in sorted(root.glob("requirements*.txt"))]
    found.lock = next((str(p.relative_to(root)) if p.is_relative_to(root) else str(p)
                       for d in (root, top) for name in LOCKS if (p := d / name).is_file()), None)
    dependencies = " ".join((d / f).read_text(errors="replace") for d in {root, top}
                            for f in ("pyproject.toml", *found.requirements) if (d / f).is_file())
    found.driver, found.sync_driver, found.driver_note = database_driver("\n".join(code), dependencies)
    for written in env_files(list(trees.values()))[-1:]:  # one file, read once: the last by name
        env_file = root / written
        found.env_file = (written, dotenv_names(env_file), tracked(env_file)) if env_file.is_file() \
            else (written, set(), False)
    return found


def _token_path(classes: dict[str, ast.ClassDef], model: str | None, depth: int = 0) -> str | None:
    """The dotted path to the token in an answer of class `model`: a field named token or
    access_token, in the class or in a class a field of it is (UserInResponse.user.token)."""
    node = classes.get(model or "")
    if node is None or depth > 3:
        return None
    fields = [(i.target.id, ast.unparse(i.annotation)) for i in node.body
              if isinstance(i, ast.AnnAssign) and isinstance(i.target, ast.Name)]
    for name, _ in fields:
        if name in ("access_token", "token", "jwt"):
            return name
    for name, annotation in fields:
        if (inner := _token_path(classes, annotation.split(".")[-1], depth + 1)) is not None:
            return f"{name}.{inner}"
    for base in node.bases:  # a field a base class declares
        if (inherited := _token_path(classes, ast.unparse(base).split(".")[-1], depth + 1)) is not None:
            return inherited
    return None


def _openapi_url(trees: list[ast.Module], setting: Callable[[str], str | None]) -> str | None:
    """The path of the app's OpenAPI schema: its FastAPI(openapi_url=…) as a literal or a setting's
    default, FastAPI's own /openapi.json when not given; None when it is switched off."""
    for tree in trees:
        for call in ast.walk(tree):
            if isinstance(call, ast.Call) and call_name(call) == "FastAPI":
                given = next((k.value for k in call.keywords if k.arg == "openapi_url"), None)
                if given is None:
                    return "/openapi.json"
                return literal(given, setting) or None  # openapi_url=None: no schema served
    return "/openapi.json"


def _import_root(path: Path) -> Path:
    """The folder a module is imported from: above its last package (folders with __init__.py),
    or where a pyproject.toml says the project is."""
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        folder = folder.parent
    return folder


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _script_command(script: Path, root: Path) -> str:
    """How a start-up script runs from the root: a module of a package with `python -m` (its
    imports may be relative), a loose script by its path."""
    if not script.is_relative_to(root):
        return f"python {script}"
    if (script.parent / "__init__.py").is_file():
        return f"python -m {'.'.join(script.relative_to(root).with_suffix('').parts)}"
    return f"python {script.relative_to(root)}"


def _embed(fields: str, key: str | None) -> str:
    """An inline TOML table of `fields`, under `key` when the route embeds its body."""
    return f"{{ {key} = {{ {fields} }} }}" if key else f"{{ {fields} }}"


def render(found: Findings, service_folder: Path) -> str:
    """The service file's text: every field, the guesses marked for checking."""
    root = found.root.relative_to(service_folder) if found.root.is_relative_to(service_folder) else found.root
    name = re.sub(r"[^\w-]", "-", service_folder.name) or "service"
    if not name[0].isalpha():
        name = f"service-{name}"
    lines = ["# The service file of `harness run-all --service` (docs/service.md gives every field).",
             "# Written by `harness init` from what the code shows: check each line marked CHECK.",
             f"name = {_quoted(name)}",
             f"root = {_quoted(str(root))}  # the folder the service runs from (imports, commands)", "",
             "[environment]",
             "# installed with uv into an environment outside this repository, one per set of inputs"]
    if found.requirements:
        lines.append(f"requirements = [{', '.join(_quoted(r) for r in found.requirements)}]")
    else:
        lines.append("# requirements: pyproject.toml's dependencies (no requirements*.txt found)")
    lines.append(f"# lock: {found.lock} pins every package it names" if found.lock else "# no lock file found")
    lines += ["", "[start]",
              f"app = {_quoted(found.app)}  # served as the ladder serves s5 (gunicorn + uvicorn workers)"
              if found.app else 'app = "main:app"  # CHECK: no FastAPI() object found; module:attribute',
              f"health = {_quoted(found.health or found.openapi or '/')}"
              + ("" if found.health else "  # CHECK: no health route found: the app's OpenAPI schema" if found.openapi
                 else "  # CHECK: no health route and no OpenAPI schema: any cheap GET answering 200"),
              "", "[database]", 'kind = "postgres"  # or "none"',
              "# run in order before any window, with [env] set, on an empty database of each variant's"]
    # the commands run in `root`: a script's path from there
    migrate = [] if found.alembic is None else ["alembic upgrade head"] if found.alembic == "." \
        else [f"cd {found.alembic} && alembic upgrade head"]  # alembic.ini's paths are from where it is
    setup = migrate + [_script_command(s, found.root) for s in found.scripts]
    lines.append(f"setup = [{', '.join(_quoted(c) for c in setup)}]  # CHECK the order")
    lines += ["", "[env]", "# what the service reads; {db.*}, {secret}, {port} and {workers} are filled by the run"]
    if found.driver_note:
        lines.append(f"# {found.driver_note}")
    url = "{db.url}" if found.driver == "postgresql" else "{db.url:" + found.driver + "}"
    # an ASYNC_URL beside a URL: the async one for the engine, the other for sync tools (Alembic)
    paired = any("ASYNC_" in name for name in found.settings)
    sync_url = "{db.url:" + found.sync_driver + "}"

    def url_of(name: str) -> str:
        return url if "ASYNC_" in name or not paired else sync_url
    placeholders = {name: next((url_of(name) if "%s" in value else value for pattern, value in SETTINGS
                                if pattern.search(name)), None) for name in found.settings}
    parts = any(v == "{db.host}" for v in placeholders.values())
    given, written, committed = found.env_file or ("", set(), False)
    defaulted, from_file = [], []
    for name, setting in sorted(found.settings.items()):
        placeholder = placeholders[name]
        # a URL with a default where the host, port… are settings too is made from them: left alone
        if placeholder in (url, sync_url) and setting.has_default and parts:
            defaulted.append(name)
        elif placeholder:
            lines.append(f"{name} = {_quoted(placeholder)}")
        elif setting.has_default:
            defaulted.append(name)
        elif name in written and committed:
            from_file.append(name)
        elif setting.annotation in ("", "str"):
            lines.append(f"{name} = \"\"  # CHECK: required by the code, no default found")
        else:  # an empty string would not validate as its type: left for the owner to give
            lines.append(f"# {name} =   # CHECK: required by the code ({setting.annotation}), no default found: "
                         "give a value of that type")
    if defaulted:
        lines.append(f"# with a default in the code, not set here: {', '.join(defaulted)}")
    if from_file:
        lines.append(f"# given by {given} (committed, so in every variant), not set here: {', '.join(from_file)}")
    elif given and not committed:
        lines.append(f"# the settings read {given}, which git does not track: no variant's checkout has it")
    lines += ["", "[load]", "users = 50"]
    account = 'email = "user{account}@example.com", password = "pw-{account}-long-enough"'
    if found.token_path and found.sign_up_path:
        lines += ["", "[load.sign_up]  # the accounts, made through the service's own route; CHECK its fields",
                  f"path = {_quoted(found.sign_up_path)}",
                  # a username too: many sign-up bodies ask for one, the others ignore it
                  "json = " + _embed(account + ', username = "user{account}"', found.sign_up_key)]
    if found.token_path:
        fields = (('username = "user{account}@example.com", password = "pw-{account}-long-enough"'
                   if found.token_form else account) if found.sign_up_path
                  else ('username' if found.token_form else 'email') + ' = "CHECK@example.com", password = "CHECK"')
        lines += ["", "[load.sign_in]  # CHECK: an account the set-up makes" if not found.sign_up_path
                  else "[load.sign_in]  # with the accounts load.sign_up makes",
                  f"path = {_quoted(found.token_path)}",
                  f"form = {{ {fields} }}" if found.token_form else f"json = {_embed(fields, found.sign_in_key)}",
                  *(["accounts = 20  # users take accounts 1..20 in turn"] if found.sign_up_path else []),
                  f"token = {_quoted(found.token)}" + ("" if found.token_form or found.token != "access_token" else
                                                      "  # CHECK: the token's place in the answer (a dotted path)"),
                  *([f"scheme = {_quoted(found.scheme)}  # the settings' token prefix"] if found.scheme else [])]
    for route in found.gets or [found.health or found.openapi or "/"]:
        lines += ["", "[[load.requests]]  # CHECK: its weight among the others",
                  f"path = {_quoted(route)}", "weight = 1"]
    lines += ["", "# [[verify]]  # requests every variant must answer alike, checked before timing",
              '# path = "/items/"', '# ignore = ["id", "created_at"]',
              "", "# [writes]  # rows the acknowledged writes (requests with write = true) must leave",
              '# count = "SELECT count(*) FROM item"', ""]
    return "\n".join(lines)


def write_service_file(folder: Path) -> Path:
    folder = folder.resolve()
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder")
    target = folder / SERVICE_FILE
    if target.exists():
        raise UserError(f"{target} exists: init writes a new service file only")
    text = render(survey(folder), folder)
    target.write_text(text)
    return target
