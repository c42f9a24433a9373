"""`harness diff A B`: the code that changes between two stages, and nothing else."""

import difflib
import json
from pathlib import Path
from typing import Any

from harness.manifests.manifest import MANIFEST, StageManifest
from harness.paths import REPO_ROOT


def module_path(module: str) -> Path:
    return REPO_ROOT / (module.split(":")[0].replace(".", "/") + ".py")


def _read(path: Path | None) -> list[str]:
    return path.read_text().splitlines(keepends=True) if path and path.exists() else []


def _read_text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _label(path: Path | None) -> str:
    return str(path.relative_to(REPO_ROOT)) if path else "/dev/null"


def file_diff(old: Path | None, new: Path | None) -> str:
    return "".join(difflib.unified_diff(_read(old), _read(new), _label(old), _label(new)))


def manifest_lines(stage: StageManifest) -> list[str]:
    """The manifest as the stage runs with it (after `extends`), one `key = value` line per
    setting: a stage's file holds only what it changes, so the files side by side would show
    what the older stage had changed as if the newer one removed it (s4 'dropping' s3's pool)."""
    data: dict[str, Any] = stage.model_dump(mode="json", exclude={"folder"}, exclude_none=True)
    lines: list[str] = []
    for key, value in data.items():
        if key == "services":
            for service in value:
                name = service.pop("name")
                lines += [f"services.{name}.{k} = {json.dumps(v)}\n" for k, v in service.items()]
        elif isinstance(value, dict):
            lines += [f"{key}.{json.dumps(k) if '.' in k or ' ' in k else k} = {json.dumps(v)}\n"
                      for k, v in sorted(value.items())]
        elif value != []:
            lines.append(f"{key} = {json.dumps(value)}\n")
    return lines


def manifest_diff(a: StageManifest, b: StageManifest) -> str:
    return "".join(difflib.unified_diff(manifest_lines(a), manifest_lines(b),
                                        f"{_label(a.folder / MANIFEST)} (resolved)",
                                        f"{_label(b.folder / MANIFEST)} (resolved)"))


def stage_diff(a: StageManifest, b: StageManifest) -> str:
    pairs: list[tuple[Path | None, Path | None]] = []
    for port in ("db", "rpc", "queries"):
        old, new = getattr(a.adapters, port), getattr(b.adapters, port)
        if old != new:
            # a module that builds on the one it replaces (imports it and redefines a few names)
            # is the fix itself: shown whole, as new, not against everything it keeps
            builds_on = f"from {old} import" in _read_text(module_path(new))
            pairs.append((None if builds_on else module_path(old), module_path(new)))
    old_apps = {s.name: s.app for s in a.services}
    new_apps = {s.name: s.app for s in b.services}
    for name in list(old_apps) + [n for n in new_apps if n not in old_apps]:
        old_app, new_app = old_apps.get(name), new_apps.get(name)
        if old_app != new_app:
            pairs.append((module_path(old_app) if old_app else None,
                          module_path(new_app) if new_app else None))
    # modules a stage adds beside its services (e.g. the edge middleware)
    seen = {p for pair in pairs for p in pair if p}
    for extra in sorted(b.folder.rglob("*.py")):
        if extra not in seen and extra.name != "__init__.py" and not _used_by(a, extra):
            pairs.append((None, extra))
    for migration in b.migrations:
        if migration not in a.migrations:
            pairs.append((None, REPO_ROOT / migration))
    if a.server.config != b.server.config:
        old_config = REPO_ROOT / a.server.config if a.server.config else None
        new_config = REPO_ROOT / b.server.config if b.server.config else None
        if (old_config, new_config) not in pairs and (None, new_config) not in pairs:
            pairs.append((old_config, new_config))
    return manifest_diff(a, b) + "".join(file_diff(old, new) for old, new in pairs)


def _used_by(stage: StageManifest, path: Path) -> bool:
    return path.is_relative_to(stage.folder)
