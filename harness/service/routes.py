"""A FastAPI app's routes with their full paths, read from the source (never imported): every
`APIRouter(prefix=…)` and every `include_router(…, prefix=…)` on the way from the app down to the
router a route is declared on, across modules (`from app.api.routes import items` then
`api_router.include_router(items.router, prefix="/items")`, relative imports too). A prefix given
as a setting (`settings.API_V1_STR`) is that setting's default where the code gives one.

Written here rather than taken from a library: FastAPI answers this only by importing the app,
which needs the service's environment, its settings and often its database.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

RouterId = tuple[str, str]  # (module, variable)
ADMIN = re.compile(r"superuser|admin", re.IGNORECASE)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # with every prefix on the way from the app
    form: bool  # its handler takes a form (an OAuth2 password form, Form(...))
    module: Path
    admin: bool = False  # its decorator or handler asks for a superuser or an admin (not for any account)
    body_key: str | None = None  # its JSON body is embedded under this key (Body(embed=True, alias=…))
    answer: str | None = None  # the class its answer is (response_model=…, else the return annotation)


def module_names(files: list[Path], root: Path) -> dict[Path, str]:
    """Each file's dotted module name from the import root (`app/api/__init__.py`: `app.api`)."""
    out = {}
    for path in files:
        if path.is_relative_to(root):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts and parts[-1] == "__init__":
                parts.pop()
            out[path] = ".".join(parts)
    return out


def _imports(tree: ast.Module, module: str, is_package: bool) -> dict[str, str]:
    """Local name -> the dotted name it stands for (`items` -> `app.api.routes.items`, `api_router`
    -> `app.api.main.api_router`)."""
    out = {}
    package = module if is_package else module.rpartition(".")[0]
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                out[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                out[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
    return out


def call_name(node: ast.expr | None) -> str:
    """The name a call calls (`FastAPI` of `fastapi.FastAPI(…)`), '' for anything else."""
    return ast.unparse(node.func).split(".")[-1] if isinstance(node, ast.Call) else ""


def literal(node: ast.expr | None, setting: Callable[[str], str | None]) -> str:
    """A path as the code spells it: a string, a setting's default (`settings.API_V1_STR`), or an
    f-string of both; '' for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Attribute):
        return setting(node.attr) or ""
    if isinstance(node, ast.JoinedStr):  # f"{settings.API_V1_STR}/items"
        return "".join(literal(v.value if isinstance(v, ast.FormattedValue) else v, setting) for v in node.values)
    return ""


def _prefix(call: ast.Call, setting: Callable[[str], str | None]) -> str:
    return next((literal(k.value, setting) for k in call.keywords if k.arg == "prefix"), "")


def routes(trees: dict[Path, ast.Module], root: Path, app: RouterId | None,
           setting: Callable[[str], str | None]) -> list[Route]:
    """Every route of literal path under the app, with its full path; a router the app never
    includes (or an app not found) gives its routes under its own prefix only."""
    names = module_names(list(trees), root)
    own: dict[RouterId, str] = {}  # a router's own prefix
    parents: dict[RouterId, tuple[RouterId, str]] = {}  # router -> (who includes it, with what prefix)
    declared: list[tuple[RouterId, Route]] = []
    for path, tree in trees.items():
        module = names.get(path, path.stem)
        imported = _imports(tree, module, path.name == "__init__.py")

        def resolve(node: ast.expr, module: str = module, imported: dict[str, str] = imported) -> RouterId | None:
            if isinstance(node, ast.Name):
                target = imported.get(node.id)
                return (target.rpartition(".")[0], target.rpartition(".")[2]) if target else (module, node.id)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                base = imported.get(node.value.id, node.value.id)
                return base, node.attr
            return None

        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                    and call_name(node.value) == "APIRouter":
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        own[(module, target.id)] = _prefix(node.value, setting)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "include_router" and node.args:
                includer, included = resolve(node.func.value), resolve(node.args[0])
                if includer and included:
                    parents.setdefault(included, (includer, _prefix(node, setting)))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                form = "OAuth2PasswordRequestForm" in ast.unparse(node.args) or "Form(" in ast.unparse(node.args)
                for decorator in node.decorator_list:
                    if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                            and decorator.func.attr in ("get", "post", "put", "patch", "delete") and decorator.args
                            and isinstance(decorator.args[0], ast.Constant)
                            and isinstance(decorator.args[0].value, str)
                            and (owner := resolve(decorator.func.value)) is not None):
                        admin = bool(ADMIN.search(ast.unparse(decorator) + ast.unparse(node.args)))
                        model = next((k.value for k in decorator.keywords if k.arg == "response_model"), node.returns)
                        answer = ast.unparse(model).split(".")[-1] if model is not None else None
                        declared.append((owner, Route(decorator.func.attr.upper(), decorator.args[0].value, form,
                                                      path, admin, _embedded(node), answer)))

    def full(router: RouterId, seen: frozenset[RouterId] = frozenset()) -> str:
        prefix = own.get(router, "")
        if router == app or router in seen or router not in parents:
            return prefix
        parent, given = parents[router]
        return full(parent, seen | {router}) + given + prefix
    return [Route(r.method, full(owner) + r.path, r.form, r.module, r.admin, r.body_key, r.answer)
            for owner, r in declared]


def _embedded(handler: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """The key a handler's body is embedded under: a parameter given `Body(…, embed=True)` (its
    alias, else its name)."""
    args = [*handler.args.posonlyargs, *handler.args.args, *handler.args.kwonlyargs]
    defaults = [*([None] * (len(handler.args.posonlyargs) + len(handler.args.args) - len(handler.args.defaults))),
                *handler.args.defaults, *handler.args.kw_defaults]
    for arg, default in zip(args, defaults, strict=False):
        if isinstance(default, ast.Call) and ast.unparse(default.func).split(".")[-1] == "Body":
            keywords = {k.arg: k.value for k in default.keywords if k.arg}
            embed = keywords.get("embed")
            if isinstance(embed, ast.Constant) and embed.value is True:
                alias = keywords.get("alias")
                return str(alias.value) if isinstance(alias, ast.Constant) else arg.arg
    return None
