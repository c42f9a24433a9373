"""A variant's Python environment: which interpreter, which packages, built once per inputs.

The interpreter is the first installed one that fits the project's `requires-python`, in the
order the ladder prefers (the statically linked /usr/bin/python3.X the ladder's own services run
on, then the others on PATH, then pyenv's and uv's managed ones): the interpreter is part of the
budget, so every variant that can share one does (harness/interpreter.py says why the build
matters). None fitting is one line.

The packages: the service's requirement files (or pyproject.toml's dependencies), installed with
uv, under a lock where there is one: every package the lock names is pinned to its version as a
constraint, so nothing the lock fixes is resolved afresh (uv.lock, poetry.lock and pdm.lock are
all `[[package]] name, version` tables; Pipfile.lock is JSON). One environment per set of inputs —
interpreter, requirement files, lock, extras — kept in the harness's cache and reused while they
are unchanged, so two variants that differ only in code share it. It is built in a folder of its
own (a lock keeps two runs from building it at once) and marked complete only when every install
step succeeded: a failed install leaves nothing to reuse.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from harness.errors import UserError
from harness.service.service_file import ServiceFile

LOCKS = ("uv.lock", "poetry.lock", "pdm.lock", "Pipfile.lock")
# what serving an ASGI app the way the ladder serves s5 takes (start.app)
SERVING = ("gunicorn", "uvicorn-worker")
INSTALL_TIMEOUT_S = 900


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str


@dataclass(frozen=True)
class ServiceEnvironment:
    """A built environment: its interpreter and what went into it."""
    folder: Path
    interpreter: Interpreter
    inputs: dict[str, Any]

    @property
    def python(self) -> Path:
        return self.folder / "bin" / "python"

    @property
    def bin(self) -> Path:
        return self.folder / "bin"

    def record(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "python": self.interpreter.path, "python_version": self.interpreter.version,
                **self.inputs}


def managed() -> list[str]:
    """Interpreters kept where users keep them off PATH: pyenv's versions ($PYENV_ROOT, else
    ~/.pyenv) and uv's managed Pythons ($UV_PYTHON_INSTALL_DIR, else ~/.local/share/uv/python),
    newest first."""
    home = Path.home()
    roots = [Path(os.environ.get("PYENV_ROOT") or home / ".pyenv") / "versions",
             Path(os.environ.get("UV_PYTHON_INSTALL_DIR") or home / ".local" / "share" / "uv" / "python")]
    found = [p for root in roots if root.is_dir() for p in root.glob("*/bin/python3")]
    return [str(p) for p in sorted(found, key=lambda p: _numbers(p.parts[-3]), reverse=True)]


def _numbers(name: str) -> tuple[int, ...]:
    """'cpython-3.12.4-linux-x86_64-gnu' or '3.12.4' as (3, 12, 4), for ordering."""
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", name)
    return tuple(int(n) for n in found.groups("0")) if found else (0,)


def _older_python_hint(said: str, interpreter: Interpreter) -> str:
    """What to change when a pinned package had to be built from source and could not be: an old
    lock's versions often have wheels only for older Pythons, so the line names the field and the
    installed interpreters older than this one."""
    failed = re.search(r"Failed to (?:download and )?build `([^`]+)`", said)
    if failed is None:
        return ""
    mine = Version(interpreter.version)
    older = sorted({v for p in candidates() if (v := _version(p)) and Version(v).release[:2] < mine.release[:2]},
                   key=Version, reverse=True)
    return (f"; {failed.group(1)} has no wheel for Python {mine.major}.{mine.minor} here and did not build: "
            f"set [environment] python in the service file to an older Python"
            + (f" (installed: {', '.join(older)})" if older else ""))


def candidates() -> list[str]:
    """Installed interpreters, the ladder's preferred first (see the module's docstring), then
    the ones on PATH, then pyenv's and uv's (`managed`)."""
    found = [f"/usr/bin/python3.{minor}" for minor in range(14, 8, -1)]
    found += [p for minor in range(14, 8, -1) if (p := shutil.which(f"python3.{minor}"))]
    found += [p for p in (shutil.which("python3"), sys.executable) if p]
    found += managed()
    return [p for p in dict.fromkeys(found) if os.access(p, os.X_OK)]


def _version(path: str) -> str | None:
    try:
        done = subprocess.run([path, "-c", "import platform; print(platform.python_version())"],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def requires_python(service: ServiceFile, root: Path) -> str | None:
    """The specifier the variant asks for: the service file's, else its pyproject.toml's."""
    if service.environment.python:
        return service.environment.python
    pyproject = _pyproject(root)
    found = pyproject.get("project", {}).get("requires-python")
    if found is None and (poetry := pyproject.get("tool", {}).get("poetry", {}).get("dependencies", {})):
        found = _poetry_spec(str(poetry.get("python", ""))) or None
    return str(found) if found else None


def choose_interpreter(spec: str | None, variant: str) -> Interpreter:
    try:
        wanted = SpecifierSet(spec or "")
    except InvalidSpecifier:
        raise UserError(f"variant {variant}: requires-python {spec!r} is not a version specifier") from None
    seen = []
    for path in candidates():
        if (version := _version(path)) is None:
            continue
        seen.append(version)
        if wanted.contains(version, prereleases=True):
            return Interpreter(path, version)
    raise UserError(f"variant {variant}: no installed Python fits requires-python {spec!r} "
                    f"(found {', '.join(dict.fromkeys(seen)) or 'none'})")


def _pyproject(root: Path) -> dict[str, Any]:
    path = root / "pyproject.toml"
    try:
        return tomllib.loads(path.read_text()) if path.is_file() else {}
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not TOML: {exc}") from None


def _poetry_spec(spec: str) -> str:
    """Poetry's `^1.2`, `~1.2`, `1.2.*`, `>=1,<2` as PEP 440 (caret: up to the next major, or
    minor below 1.0)."""
    out = []
    for part in [p.strip() for p in spec.split(",") if p.strip() and p.strip() != "*"]:
        if part.startswith("^"):
            numbers = [int(n) for n in re.findall(r"\d+", part)][:3] or [0]
            first = next((i for i, n in enumerate(numbers) if n), len(numbers) - 1)
            upper = [*numbers[:first], numbers[first] + 1]
            out += [f">={part[1:]}", f"<{'.'.join(map(str, upper))}"]
        elif part.startswith("~") and not part.startswith("~="):
            numbers = [int(n) for n in re.findall(r"\d+", part)]
            upper = [numbers[0] + 1] if len(numbers) == 1 else [numbers[0], numbers[1] + 1]
            out += [f">={part[1:]}", f"<{'.'.join(map(str, upper))}"]
        elif part[0].isdigit():
            out.append(f"=={part}")
        else:
            out.append(part)
    return ",".join(out)


def requirements(service: ServiceFile, root: Path) -> tuple[list[str], list[Path]]:
    """(requirement lines, requirement files) the variant installs."""
    if service.environment.requirements:
        files = [root / f for f in service.environment.requirements]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise UserError(f"environment.requirements: {', '.join(missing)} not found")
        return [], files
    if (root / "requirements.txt").is_file():
        return [], [root / "requirements.txt"]
    pyproject = _pyproject(root)
    if deps := pyproject.get("project", {}).get("dependencies"):
        return [str(d) for d in deps], []
    poetry = pyproject.get("tool", {}).get("poetry", {}).get("dependencies", {})
    lines = []
    for name, spec in poetry.items():
        if name.lower() == "python":
            continue
        version = spec.get("version", "") if isinstance(spec, dict) else str(spec)
        extras = f"[{','.join(spec['extras'])}]" if isinstance(spec, dict) and spec.get("extras") else ""
        lines.append(f"{name}{extras}{_poetry_spec(version)}")
    if lines:
        return lines, []
    if not service.environment.install_project:
        raise UserError(f"{root}: no requirements.txt and no dependencies in pyproject.toml: "
                        "name them in environment.requirements")
    return [], []


def find_lock(service: ServiceFile, root: Path, top: Path) -> Path | None:
    if service.environment.lock:
        path = root / service.environment.lock
        if not path.is_file():
            raise UserError(f"environment.lock: {path} not found")
        return path
    for folder in dict.fromkeys([root, top]):
        for name in LOCKS:
            if (folder / name).is_file():
                return folder / name
    return None


def lock_constraints(lock: Path) -> list[str]:
    """Every package the lock pins, as `name==version` constraints."""
    try:
        if lock.name == "Pipfile.lock":
            data = json.loads(lock.read_text())
            return [f"{name}{entry['version']}" for section in ("default", "develop")
                    for name, entry in data.get(section, {}).items() if str(entry.get("version", "")).startswith("==")]
        packages = tomllib.loads(lock.read_text()).get("package", [])
    except (ValueError, OSError) as exc:
        raise UserError(f"{lock}: cannot read the lock: {exc}") from None
    pins = {}
    for package in packages:
        source = package.get("source") or {}
        if isinstance(source, dict) and ({"editable", "virtual", "directory", "path"} & set(source)):
            continue  # the project itself, or a workspace member: not a registry's package
        if package.get("name") and package.get("version"):
            pins[str(package["name"]).lower()] = str(package["version"])
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def cache_folder() -> Path:
    base = os.environ.get("LADDER_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "fastapi-ladder")
    return Path(base) / "envs"


def _uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if not found:
        raise UserError("uv is not installed next to the harness (pip install uv): it builds services' environments")
    return found


def build(service: ServiceFile, root: Path, top: Path, variant: str, log: Path) -> ServiceEnvironment:
    """The variant's environment: reused when one with the same inputs exists, else built."""
    interpreter = choose_interpreter(requires_python(service, root), variant)
    lines, files = requirements(service, root)
    lock = find_lock(service, root, top)
    constraints = lock_constraints(lock) if lock else []
    serving = list(SERVING) if service.start.app else []
    project = service.environment.install_project
    inputs: dict[str, Any] = {
        "requirements": lines, "requirement_files": {str(f.relative_to(root)): f.read_text() for f in files},
        "lock": lock.name if lock else None, "constraints": constraints, "extra": service.environment.extra,
        "serving": serving, "project": _project_digest(root) if project else None,
    }
    key = hashlib.sha256(json.dumps([interpreter.version, interpreter.path, inputs], sort_keys=True).encode())
    folder = cache_folder() / f"{service.name}-{key.hexdigest()[:16]}"
    summary = {"lock": inputs["lock"], "locked_packages": len(constraints), "requirement_files": sorted(
        inputs["requirement_files"]), "requirements": lines, "extra": service.environment.extra, "serving": serving,
        "install_project": project, "reused": (folder / ".complete").is_file()}
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + ".lock"), "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # another run building the same waits, then reuses it
        if not (folder / ".complete").is_file():
            _install(service, root, folder, interpreter, lines, files, constraints, serving, variant, log)
            (folder / ".complete").write_text(json.dumps(inputs, sort_keys=True))
    return ServiceEnvironment(folder, interpreter, summary)


def _install(service: ServiceFile, root: Path, folder: Path, interpreter: Interpreter, lines: list[str],
             files: list[Path], constraints: list[str], serving: list[str], variant: str, log: Path) -> None:
    """Install into `folder` from nothing; on any failure the folder goes, so nothing half-built is reused."""
    shutil.rmtree(folder, ignore_errors=True)
    uv = _uv()
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": str(folder)}
    work = folder.with_name(folder.name + ".inputs")
    work.mkdir(parents=True, exist_ok=True)
    (work / "constraints.txt").write_text("\n".join(constraints) + "\n")
    (work / "requirements.txt").write_text("\n".join(lines) + "\n")
    steps = [[uv, "venv", "--quiet", "--python", interpreter.path, str(folder)],
             [uv, "pip", "install", "--python", str(folder / "bin" / "python"), "-c", str(work / "constraints.txt"),
              "-r", str(work / "requirements.txt"), *[a for f in files for a in ("-r", str(f))],
              *([str(root)] if service.environment.install_project else []), *service.environment.extra, *serving]]
    try:
        with open(log, "ab") as out:
            for argv in steps:
                out.write(f"$ {' '.join(argv)}\n".encode())
                out.flush()
                done = subprocess.run(argv, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                      timeout=INSTALL_TIMEOUT_S, check=False)
                if done.returncode != 0:
                    said = log.read_text(errors="replace")
                    last = [line.strip() for line in said.splitlines() if line.strip()]
                    raise UserError(f"variant {variant}: its environment failed to install: "
                                    f"{last[-1][:240] if last else 'no output'}"
                                    f"{_older_python_hint(said, interpreter)} (log: {log})")
    except subprocess.TimeoutExpired:
        shutil.rmtree(folder, ignore_errors=True)
        raise UserError(f"variant {variant}: its environment took over {INSTALL_TIMEOUT_S} s to install "
                        f"(log: {log})") from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _project_digest(root: Path) -> str:
    """The project's own files, for an environment that installs it: changed code, new environment."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
