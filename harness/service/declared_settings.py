"""The settings a FastAPI service's code declares, read statically (harness init): the fields of
every pydantic settings class — its env_prefix, aliases, nested models joined by its
env_nested_delimiter, the env file it reads — and the names os.environ / getenv read; and the
database URL's form its code takes. Parsed, never imported (the module docstring of
harness.service.init says why)."""

from __future__ import annotations

import ast
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path


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
    """env_prefix, env_nested_delimiter and env_file of a settings class (model_config or class
    Config); of several env files, the last (pydantic's precedence)."""
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
            if key in ("env_prefix", "env_nested_delimiter", "env_file") and isinstance(value, ast.Constant):
                out[key] = str(value.value)
            elif key == "env_file" and isinstance(value, ast.Tuple | ast.List) and value.elts \
                    and isinstance(value.elts[-1], ast.Constant):
                out[key] = str(value.elts[-1].value)
    return out


def env_files(trees: list[ast.Module]) -> list[str]:
    """The env files the settings classes read (as written: relative to where the service runs)."""
    return sorted({file for tree in trees for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                   and any("Settings" in ast.unparse(b) for b in node.bases)
                   and (file := _config(node).get("env_file"))})


def dotenv_names(path: Path) -> set[str]:
    """The names a dotenv file sets (KEY=value lines; comments and `export` allowed)."""
    names = set()
    for line in path.read_text(errors="replace").splitlines():
        match = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
        if match:
            names.add(match.group(1).upper())
    return names


def tracked(path: Path) -> bool:
    """Whether git tracks the file: only a committed file is in every variant's checkout."""
    done = subprocess.run(["git", "-C", str(path.parent), "ls-files", "--error-unmatch", path.name],
                          capture_output=True, check=False)
    return done.returncode == 0


def _fields(node: ast.ClassDef) -> list[tuple[str, str, ast.expr | None]]:
    """(name, annotation, value) of a class's annotated fields."""
    return [(item.target.id, ast.unparse(item.annotation), item.value) for item in node.body
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
            and not item.target.id.startswith("_") and item.target.id != "model_config"]


def declared(trees: list[ast.Module]) -> list[Setting]:
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
            elif isinstance(call, ast.Subscript) and isinstance(call.ctx, ast.Load) \
                    and ast.unparse(call.value) == "os.environ" \
                    and isinstance(call.slice, ast.Constant) and isinstance(call.slice.value, str):
                read, has_default = call.slice.value, False
            if read is not None:
                out.append(Setting(read, read, "", has_default))
    return out


def database_driver(code: str, dependencies: str) -> tuple[str, str, str]:
    """The URL scheme the service's database code takes, the scheme for its sync tools (Alembic
    beside an async engine: psycopg 2 or 3, whichever the dependencies name), and a note when that
    is a guess: asyncpg called directly takes a plain postgresql:// URL; SQLAlchemy's async engine
    an async driver (asyncpg, or psycopg 3); a sync engine the sync scheme."""
    sync = "postgresql+psycopg2" if "psycopg2" in dependencies else "postgresql+psycopg"
    postgres = re.search(r"asyncpg|psycopg", dependencies)
    mysql = re.search(r"aiomysql|pymysql|mysqlclient|asyncmy|mysql-connector", dependencies)
    note = "" if postgres or not mysql else (
        f"CHECK: the dependencies name {mysql.group(0)} and no PostgreSQL driver: the run gives PostgreSQL")
    if re.search(r"asyncpg\.(create_pool|connect)\(", code) and "create_engine" not in code \
            and "create_async_engine" not in code:
        return "postgresql", sync, note or "the code calls asyncpg itself: a plain postgresql:// URL"
    if "create_async_engine" in code:
        if "asyncpg" in dependencies:
            return "postgresql+asyncpg", sync, note
        if re.search(r"psycopg(?!2)", dependencies):
            return "postgresql+psycopg", sync, note
        return "postgresql+asyncpg", sync, note or "CHECK: an async engine, and no async driver in the dependencies"
    return sync, sync, note
