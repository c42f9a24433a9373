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
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import UserError
from harness.service.environments import LOCKS
from harness.service.service_file import SERVICE_FILE

SKIPPED = {".git", ".venv", "venv", "node_modules", "__pycache__", "tests", "test", "frontend", "site-packages"}
# a setting's name -> the placeholder that fills it (first match wins)
SETTINGS = [
    (re.compile(r"(DATABASE|DB|SQLALCHEMY_DATABASE)_(URL|URI|DSN)$"), "{db.url:%s}"),
    (re.compile(r"(POSTGRES|PG|DB|DATABASE)_?(SERVER|HOST|HOSTNAME)$"), "{db.host}"),
    (re.compile(r"(POSTGRES|PG|DB|DATABASE)_?PORT$"), "{db.port}"),
    (re.compile(r"(POSTGRES|PG|DB|DATABASE)_?(USER|USERNAME)$"), "{db.user}"),
    (re.compile(r"(POSTGRES|PG|DB|DATABASE)_?(PASSWORD|PASS)$"), "{db.password}"),
    (re.compile(r"(POSTGRES|PG|DB|DATABASE)_?(DB|NAME|DATABASE)$"), "{db.name}"),
    (re.compile(r"(SECRET_KEY|JWT_SECRET|SECRET)$"), "{secret}"),
]
SCRIPTS = re.compile(r"(initial_data|init_db|seed\w*|create_\w*user\w*|prestart\w*)\.py$")


@dataclass
class Findings:
    root: Path
    app: str | None = None
    health: str | None = None
    token_path: str | None = None
    gets: list[str] = field(default_factory=list)
    settings: dict[str, str | None] = field(default_factory=dict)  # name -> its default, if any
    alembic: bool = False
    scripts: list[Path] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)
    lock: str | None = None
    driver: str = "postgresql+psycopg"


def _python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if not SKIPPED & set(p.relative_to(folder).parts[:-1]))


def _app_of(tree: ast.Module) -> str | None:
    """The name a module gives its FastAPI() object."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name == "FastAPI" and isinstance(node.targets[0], ast.Name):
                return node.targets[0].id
    return None


def _router_prefix(tree: ast.Module) -> str:
    """The prefix a module's `APIRouter(prefix="/items")` gives its routes."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("APIRouter"):
            for keyword in node.keywords:
                if keyword.arg == "prefix" and isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
    return ""


def _app_prefix(tree: ast.Module, app: str, settings: dict[str, str | None]) -> str:
    """The prefix `app.include_router(router, prefix=…)` puts before the other modules' routes: a
    literal, or a setting whose default the code gives (`settings.API_V1_STR`)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == f"{app}.include_router":
            for keyword in node.keywords:
                if keyword.arg != "prefix":
                    continue
                if isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
                if isinstance(keyword.value, ast.Attribute):
                    return settings.get(keyword.value.attr) or ""
    return ""


def _routes(tree: ast.Module) -> list[tuple[str, str, bool]]:
    """(method, path, takes a form) of every route decorator with a literal path."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        form = "OAuth2PasswordRequestForm" in ast.unparse(node.args) or "Form(" in ast.unparse(node.args)
        for decorator in node.decorator_list:
            if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                    and decorator.func.attr in ("get", "post") and decorator.args
                    and isinstance(decorator.args[0], ast.Constant) and isinstance(decorator.args[0].value, str)):
                found.append((decorator.func.attr.upper(), decorator.args[0].value, form))
    return found


def _settings(tree: ast.Module) -> dict[str, str | None]:
    """Upper-case fields of pydantic BaseSettings classes, and os.environ / getenv names."""
    out: dict[str, str | None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any("Settings" in ast.unparse(b) for b in node.bases):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.target.id.isupper():
                    default = item.value.value if isinstance(item.value, ast.Constant) else None
                    out[item.target.id] = None if default is None else str(default)
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("os.getenv", "os.environ.get", "getenv") \
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            out.setdefault(node.args[0].value, None)
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ" \
                and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            out.setdefault(node.slice.value, None)
    return out


def survey(folder: Path) -> Findings:
    """What the folder's code and files show (see the module's docstring)."""
    top = folder.resolve()
    found = Findings(top)
    trees = {}
    for path in _python_files(top):
        try:
            trees[path] = ast.parse(path.read_text(errors="replace"))
        except SyntaxError:
            continue
    for tree in trees.values():
        for setting, default in _settings(tree).items():
            found.settings.setdefault(setting, default)
    app_module: Path | None = None
    prefix = ""
    for path, tree in trees.items():
        if (app := _app_of(tree)) is not None:
            found.root, app_module = _import_root(path), path
            found.app = f"{'.'.join(path.relative_to(found.root).with_suffix('').parts)}:{app}"
            prefix = _app_prefix(tree, app, found.settings)
            break
    for path, tree in trees.items():
        # the app's own routes stand as written; a router's under its own and the app's prefixes
        before = "" if path == app_module else prefix + _router_prefix(tree)
        for method, written, form in _routes(tree):
            route = before + written
            if "health" in route and method == "GET" and found.health is None:
                found.health = route
            elif method == "POST" and form and found.token_path is None:
                found.token_path = route
            elif method == "GET" and "{" not in route and len(found.gets) < 3:
                found.gets.append(route)
        if SCRIPTS.search(path.name):
            found.scripts.append(path)
    root = found.root
    found.alembic = (root / "alembic.ini").is_file()
    found.requirements = [p.name for p in sorted(root.glob("requirements*.txt"))]
    found.lock = next((str(p.relative_to(root)) if p.is_relative_to(root) else str(p)
                       for d in (root, top) for name in LOCKS if (p := d / name).is_file()), None)
    text = " ".join((root / f).read_text(errors="replace") for f in ("pyproject.toml", *found.requirements)
                    if (root / f).is_file())
    found.driver = "postgresql+asyncpg" if "asyncpg" in text else \
        "postgresql+psycopg2" if "psycopg2" in text else "postgresql+psycopg"
    return found


def _import_root(path: Path) -> Path:
    """The folder a module is imported from: above its last package (folders with __init__.py),
    or where a pyproject.toml says the project is."""
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        folder = folder.parent
    return folder


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


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
              f"health = {_quoted(found.health or '/docs')}"
              + ("" if found.health else "  # CHECK: no health route found; any cheap GET answering 200"),
              "", "[database]", 'kind = "postgres"  # or "none"',
              "# run in order before any window, with [env] set, on an empty database of each variant's"]
    # the commands run in `root`: a script's path from there
    setup = (["alembic upgrade head"] if found.alembic else []) + [
        f"python {s.relative_to(found.root) if s.is_relative_to(found.root) else s}" for s in found.scripts]
    lines.append(f"setup = [{', '.join(_quoted(c) for c in setup)}]  # CHECK the order")
    lines += ["", "[env]", "# what the service reads; {db.*}, {secret}, {port} and {workers} are filled by the run"]
    for setting, default in sorted(found.settings.items()):
        placeholder = next((value % found.driver if "%s" in value else value
                            for pattern, value in SETTINGS if pattern.search(setting)), None)
        if placeholder:
            lines.append(f"{setting} = {_quoted(placeholder)}")
        elif default is None:
            lines.append(f"{setting} = \"\"  # CHECK: required by the code, no default found")
    lines += ["", "[load]", "users = 50"]
    if found.token_path:
        lines += ["", "[load.sign_in]  # CHECK: an account the set-up makes",
                  f"path = {_quoted(found.token_path)}",
                  'form = { username = "CHECK@example.com", password = "CHECK" }',
                  'token = "access_token"']
    for route in found.gets or [found.health or "/docs"]:
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
