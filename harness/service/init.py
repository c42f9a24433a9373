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
from harness.service.routes import RouterId, routes
from harness.service.service_file import SERVICE_FILE

SKIPPED = {".git", ".venv", "venv", "node_modules", "__pycache__", "tests", "test", "frontend", "site-packages"}
# a setting's name -> the placeholder that fills it (first match wins)
SETTINGS = [
    (re.compile(r"(DATABASE|DB|SQLALCHEMY_DATABASE|POSTGRES|PG)_*(URL|URI|DSN)$"), "{db.url:%s}"),
    (re.compile(r"(POSTGRES|PG|DB|DATABASE)_*(SERVER|HOST|HOSTNAME)$"), "{db.host}"),
    (re.compile(r"(POSTGRES|PG|DB|DATABASE)_*PORT$"), "{db.port}"),
    (re.compile(r"(POSTGRES|PG|DB|DATABASE)_*(USER|USERNAME)$"), "{db.user}"),
    (re.compile(r"(POSTGRES|PG|DB|DATABASE)_*(PASSWORD|PASS)$"), "{db.password}"),
    (re.compile(r"(POSTGRES|PG|DB|DATABASE)_*(DB|NAME|DATABASE)$"), "{db.name}"),
    (re.compile(r"(SECRET_KEY|JWT_SECRET|SECRET)$"), "{secret}"),
]
SIGN_UP = re.compile(r"(sign-?up|register|users/open)/?$")
SCRIPTS = re.compile(r"(initial_data|init_db|seed\w*|create_\w*user\w*|prestart\w*)\.py$")


@dataclass
class Findings:
    root: Path
    app: str | None = None
    health: str | None = None
    token_path: str | None = None
    sign_up_path: str | None = None
    gets: list[str] = field(default_factory=list)
    settings: dict[str, Setting] = field(default_factory=dict)  # by the variable's name
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





@dataclass(frozen=True)
class Setting:
    """One setting the service reads from the environment."""
    env: str  # the variable's name: the env prefix, the nesting and any alias applied
    field: str  # the attribute as the code names it (settings.API_V1_STR)
    annotation: str  # its type as written ('' for os.environ reads)
    has_default: bool  # any default: an expression, None, a Field(default…), a factory, an Optional type
    default: str | None = None  # the default when it is a literal


_OPTIONAL = re.compile(r"(Optional\[|\|\s*None\b|\bNone\s*\||^None$)")


def _field_default(value: ast.expr | None, annotation: str) -> tuple[bool, str | None, str | None]:
    """(has a default, the literal default, an alias) of a field's assigned value."""
    alias = None
    if isinstance(value, ast.Call) and ast.unparse(value.func).split(".")[-1] == "Field":
        keywords = {k.arg: k.value for k in value.keywords if k.arg}
        for name in ("validation_alias", "alias"):
            given_alias = keywords.get(name)
            if isinstance(given_alias, ast.Constant) and isinstance(given_alias.value, str):
                alias = given_alias.value
                break
        given = value.args[0] if value.args else keywords.get("default")
        if given is None and "default_factory" not in keywords:
            return bool(_OPTIONAL.search(annotation)), None, alias
        if isinstance(given, ast.Constant) and given.value is Ellipsis:
            return False, None, alias  # Field(...): required
        literal = given.value if isinstance(given, ast.Constant) else None
        return True, None if literal is None else str(literal), alias
    if value is None:
        return bool(_OPTIONAL.search(annotation)), None, None
    literal = value.value if isinstance(value, ast.Constant) else None
    return True, None if literal is None else str(literal), None


def _config(node: ast.ClassDef) -> dict[str, str]:
    """env_prefix and env_nested_delimiter of a settings class (model_config or class Config)."""
    out: dict[str, str] = {}
    for item in node.body:
        pairs: list[tuple[str, ast.expr]] = []
        if isinstance(item, ast.Assign | ast.AnnAssign) and "model_config" in ast.unparse(item).split("=")[0] \
                and isinstance(item.value, ast.Call):
            pairs = [(k.arg, k.value) for k in item.value.keywords if k.arg]
        elif isinstance(item, ast.ClassDef) and item.name == "Config":
            pairs = [(t.id, a.value) for a in item.body if isinstance(a, ast.Assign)
                     for t in a.targets if isinstance(t, ast.Name)]
        for key, value in pairs:
            if key in ("env_prefix", "env_nested_delimiter") and isinstance(value, ast.Constant):
                out[key] = str(value.value)
    return out


def _fields(node: ast.ClassDef) -> list[tuple[str, str, ast.expr | None]]:
    """(name, annotation, value) of a class's annotated fields."""
    return [(item.target.id, ast.unparse(item.annotation), item.value) for item in node.body
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
            and not item.target.id.startswith("_") and item.target.id != "model_config"]


def _settings(trees: list[ast.Module]) -> list[Setting]:
    """The settings of every pydantic settings class (their prefix, aliases and nested models'
    fields with the class's delimiter), and the names os.environ / getenv read."""
    classes = {node.name: node for tree in trees for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    out: list[Setting] = []
    for node in classes.values():
        if not any("Settings" in ast.unparse(b) for b in node.bases):
            continue
        config = _config(node)
        prefix, delimiter = config.get("env_prefix", ""), config.get("env_nested_delimiter")
        for name, annotation, value in _fields(node):
            has_default, default, alias = _field_default(value, annotation)
            nested = next((classes[c] for c in re.findall(r"\w+", annotation) if c in classes and c != node.name),
                          None)
            if nested is not None and delimiter:
                for child, child_annotation, child_value in _fields(nested):
                    child_default, literal, child_alias = _field_default(child_value, child_annotation)
                    out.append(Setting((prefix + name + delimiter + (child_alias or child)).upper(),
                                       f"{name}.{child}", child_annotation, child_default or has_default, literal))
                continue
            out.append(Setting(alias.upper() if alias else (prefix + name).upper(), name, annotation,
                               has_default, default))
    for tree in trees:
        for call in ast.walk(tree):
            read: str | None = None
            if isinstance(call, ast.Call) and ast.unparse(call.func) in ("os.getenv", "os.environ.get", "getenv") \
                    and call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
                read, has_default = call.args[0].value, len(call.args) > 1 or bool(call.keywords)
            elif isinstance(call, ast.Subscript) and ast.unparse(call.value) == "os.environ" \
                    and isinstance(call.slice, ast.Constant) and isinstance(call.slice.value, str):
                read, has_default = call.slice.value, False
            if read is not None:
                out.append(Setting(read, read, "", has_default))
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
    for setting in _settings(list(trees.values())):
        # a name read both with and without a default (os.environ[...] here, getenv(..., x) there) is required
        known = found.settings.get(setting.env)
        if known is None or (known.has_default and not setting.has_default):
            found.settings[setting.env] = setting
    app: RouterId | None = None
    for path, tree in trees.items():
        if (name := _app_of(tree)) is not None:
            found.root = _import_root(path)
            module = ".".join(path.relative_to(found.root).with_suffix("").parts)
            found.app, app = f"{module}:{name}", (module, name)
            break

    def default_of(field: str) -> str | None:
        known = next((s for s in found.settings.values() if s.field.split(".")[-1] == field), None)
        return known.default if known else None
    for route in routes(trees, found.root, app, default_of):
        where, method = route.path, route.method
        if "health" in where and method == "GET" and found.health is None:
            found.health = where
        elif method == "POST" and route.form and found.token_path is None:
            found.token_path = where
        elif method == "POST" and SIGN_UP.search(where) and found.sign_up_path is None:
            found.sign_up_path = where
        elif method == "GET" and "{" not in where and len(found.gets) < 3:
            found.gets.append(where)
    found.scripts = [script for script in trees if SCRIPTS.search(script.name)]
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
    defaulted = []
    for name, setting in sorted(found.settings.items()):
        placeholder = next((value % found.driver if "%s" in value else value
                            for pattern, value in SETTINGS if pattern.search(name)), None)
        if placeholder:
            lines.append(f"{name} = {_quoted(placeholder)}")
        elif setting.has_default:
            defaulted.append(name)
        elif setting.annotation in ("", "str"):
            lines.append(f"{name} = \"\"  # CHECK: required by the code, no default found")
        else:  # an empty string would not validate as its type: left for the owner to give
            lines.append(f"# {name} =   # CHECK: required by the code ({setting.annotation}), no default found: "
                         "give a value of that type")
    if defaulted:
        lines.append(f"# with a default in the code, not set here: {', '.join(defaulted)}")
    lines += ["", "[load]", "users = 50"]
    if found.token_path and found.sign_up_path:
        lines += ["", "[load.sign_up]  # the accounts, made through the service's own route; CHECK its fields",
                  f"path = {_quoted(found.sign_up_path)}",
                  'json = { email = "user{account}@example.com", password = "pw-{account}-long-enough" }']
    if found.token_path:
        lines += ["", "[load.sign_in]  # CHECK: an account the set-up makes" if not found.sign_up_path
                  else "[load.sign_in]  # with the accounts load.sign_up makes",
                  f"path = {_quoted(found.token_path)}",
                  'form = { username = "user{account}@example.com", password = "pw-{account}-long-enough" }'
                  if found.sign_up_path else 'form = { username = "CHECK@example.com", password = "CHECK" }',
                  *(["accounts = 20  # users take accounts 1..20 in turn"] if found.sign_up_path else []),
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
