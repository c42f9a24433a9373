"""Stage manifests: discovered from the tree, validated, nothing hard-coded.

A stage holds only its change: `extends = "<stage id>"` takes everything that does not describe
the stage itself (part, adapters, server, env, migrations, services, expectations) from that stage, and
the manifest says what differs — an adapter, an env value, a migration, the server, a mechanism
`harness verify` must now see. [adapters], [server], [env] and [expect] merge key by key,
migrations add up, [[services]] replaces the list when given. Expectations accumulate because
fixes do: s4 must still show s3's pooling, and a variant that undoes a fix is told so by verify
(or says so by overriding that key). Your own variant can extend any stage the same way.
"""

import sys
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import UserError
from harness.manifests.rung import Rung
from harness.paths import REPO_ROOT
from harness.settings import HarnessSettings

MANIFEST = "manifest.toml"
STAGE_ROOTS = ("baseline", "stages", "optimized")


class Adapters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    db: str
    rpc: str
    queries: str


class Server(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["uvicorn", "gunicorn"]
    config: str | None = None
    # workers of every service per budget CPU (a service's own `workers`/`workers_per_cpu` wins)
    workers_per_cpu: float | None = Field(default=None, gt=0)


class ServiceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    app: str = Field(pattern=r"^[\w.]+:\w+$")
    port: int = Field(ge=1024, le=65535)
    edge: bool = False
    workers: int | None = Field(default=None, ge=1)
    workers_per_cpu: float | None = Field(default=None, gt=0)

    def worker_count(self, budget_cpus: int, server_per_cpu: float | None = None) -> int:
        """Workers from the manifest and the CPU budget, never from os.cpu_count()."""
        if self.workers is not None:
            return self.workers
        per_cpu = self.workers_per_cpu if self.workers_per_cpu is not None else server_per_cpu
        if per_cpu is not None:
            return max(1, round(per_cpu * budget_cpus))
        return 1


class StageManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^s\d+-[a-z0-9-]+$")
    order: int = Field(ge=0)
    extends: str | None = None  # the stage this one changes (resolved by `discover`)
    title: str
    fix: str
    removes: str
    anti_patterns: list[str] = []
    # "case-study": a step the article took; "beyond": a rung of our own after it (the charts and
    # the report draw the line between them). Inherited: a variant of a rung beyond is beyond too
    part: Literal["case-study", "beyond"] = "case-study"
    migrations: list[str] = []
    adapters: Adapters
    server: Server
    env: dict[str, str] = {}
    # the mechanism this stage must show in verify, e.g. "dashboard.hops" = ">= 4"
    expect: dict[str, str] = {}
    services: list[ServiceSpec] = Field(min_length=1)
    folder: Path = Path()

    @model_validator(mode="after")
    def _consistent(self) -> "StageManifest":
        names = [s.name for s in self.services]
        if len(set(names)) != len(names):
            raise ValueError("service names must be unique")
        ports = [s.port for s in self.services]
        if len(set(ports)) != len(ports):
            raise ValueError("service ports must be unique")
        if sum(s.edge for s in self.services) != 1:
            raise ValueError("exactly one service must be the edge (edge = true)")
        if self.server.kind == "gunicorn" and not self.server.config:
            raise ValueError("a gunicorn server needs server.config")
        return self

    @property
    def beyond_case_study(self) -> bool:
        return self.part == "beyond"

    @property
    def edge(self) -> ServiceSpec:
        return next(s for s in self.services if s.edge)

    def command(self, service: ServiceSpec, host: str, budget_cpus: int,
                python: str = sys.executable) -> list[str]:
        """The argv that starts one service (local processes and containers alike)."""
        if self.server.kind == "gunicorn":
            assert self.server.config is not None
            return [python, "-m", "gunicorn", "-c", self.server.config,
                    "--workers", str(service.worker_count(budget_cpus, self.server.workers_per_cpu)),
                    "--bind", f"{host}:{service.port}", service.app]
        return [python, "-m", "uvicorn", service.app, "--host", host, "--port", str(service.port)]


# what a stage takes from the one it extends; id, order, title, fix and removes are its own
INHERITED = ("part", "adapters", "server", "env", "expect", "migrations", "services")
MERGED_TABLES = ("adapters", "server", "env", "expect")


def _read(path: Path) -> dict[str, Any]:
    try:
        return {**tomllib.loads(path.read_text()), "folder": path.parent}
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"invalid manifest {path}: {exc}") from None


def _validate(data: dict[str, Any], path: Path) -> StageManifest:
    try:
        return StageManifest.model_validate(data)
    except ValidationError as exc:
        first = str(exc).splitlines()
        raise UserError(f"invalid manifest {path}: {' '.join(first[:3])}") from None


def inherit(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """The child's manifest with what it does not say taken from its (resolved) parent."""
    merged: dict[str, Any] = {key: parent[key] for key in INHERITED if key in parent}
    for key, value in child.items():
        if key in MERGED_TABLES and isinstance(value, dict):
            merged[key] = {**merged.get(key, {}), **value}
        elif key == "migrations":
            merged[key] = list(dict.fromkeys([*merged.get(key, []), *value]))
        else:
            merged[key] = value
    return merged


def load_manifest(path: Path) -> StageManifest:
    """One manifest on its own (one that extends another needs `discover`)."""
    data = _read(path)
    if data.get("extends"):
        raise UserError(f"{path} extends {data['extends']}: load it with the others (discover)")
    return _validate(data, path)


def _resolve(raw: dict[str, tuple[Path, dict[str, Any]]]) -> list[StageManifest]:
    resolved: dict[str, dict[str, Any]] = {}

    def resolve(stage_id: str, chain: tuple[str, ...]) -> dict[str, Any]:
        if stage_id in resolved:
            return resolved[stage_id]
        path, data = raw[stage_id]
        parent_id = data.get("extends")
        if parent_id:
            if parent_id in chain:
                raise UserError(f"{path}: extends goes round in a circle: {' → '.join((*chain, parent_id))}")
            if parent_id not in raw:
                raise UserError(f"{path}: extends unknown stage {parent_id}; known: {', '.join(raw)}")
            data = inherit(resolve(parent_id, (*chain, parent_id)), data)
        resolved[stage_id] = data
        return data

    return [_validate(resolve(stage_id, (stage_id,)), path) for stage_id, (path, _) in raw.items()]


def discover(root: Path = REPO_ROOT, extra: list[Path] | None = None) -> list[StageManifest]:
    """Every stage under baseline/, stages/ and optimized/ (and `extra` folders: your own
    variants, e.g. LADDER_EXTRA_STAGES=/path/to/mine), in ladder order, `extends` resolved."""
    paths = [p for top in STAGE_ROOTS for p in sorted((root / top).rglob(MANIFEST))]
    for folder in extra or []:
        if not folder.is_dir():
            raise UserError(f"extra stages folder {folder} does not exist")
        paths += sorted(folder.rglob(MANIFEST))
    raw: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in paths:
        data = _read(path)
        stage_id = str(data.get("id", path))
        if stage_id in raw:
            raise UserError(f"duplicate stage id {stage_id} in {raw[stage_id][0]} and {path}")
        raw[stage_id] = (path, data)
    stages = sorted(_resolve(raw), key=lambda m: m.order)
    orders = [s.order for s in stages]
    if len(set(orders)) != len(orders):
        raise UserError(f"duplicate stage order in manifests: {orders}")
    return stages


def select(stages: list[StageManifest], wanted: list[str] | None) -> list[StageManifest]:
    if not wanted:
        return stages
    # `--stages a --stages b` and `--stages a,b` alike
    wanted = [w.strip() for item in wanted for w in item.split(",") if w.strip()]
    by_id = {s.id: s for s in stages}
    unknown = [w for w in wanted if w not in by_id]
    if unknown:
        raise UserError(f"unknown stage {', '.join(unknown)}; known: {', '.join(by_id)}")
    return sorted((by_id[w] for w in dict.fromkeys(wanted)), key=lambda m: m.order)


def as_stage(rung: Rung) -> StageManifest:
    """A rung a ladder backend runs: one of the ladder's stages (a service's variant has a backend of its own)."""
    if not isinstance(rung, StageManifest):
        raise TypeError(f"{rung.id} is not a ladder stage")
    return rung


def all_stages() -> list[StageManifest]:
    """Every stage a command can name: the repository's and those under LADDER_EXTRA_STAGES."""
    return discover(extra=HarnessSettings().extra_stage_dirs())
