"""Stage manifests: discovered from the tree, validated, nothing hard-coded."""

import sys
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[2]  # harness/ladder/manifest.py → the repository
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


class ServiceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    app: str = Field(pattern=r"^[\w.]+:\w+$")
    port: int = Field(ge=1024, le=65535)
    edge: bool = False
    workers: int | None = Field(default=None, ge=1)
    workers_per_cpu: float | None = Field(default=None, gt=0)

    def worker_count(self, budget_cpus: int) -> int:
        """Workers from the manifest and the CPU budget, never from os.cpu_count()."""
        if self.workers is not None:
            return self.workers
        if self.workers_per_cpu is not None:
            return max(1, round(self.workers_per_cpu * budget_cpus))
        return 1


class StageManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^s\d+-[a-z0-9-]+$")
    order: int = Field(ge=0)
    title: str
    fix: str
    removes: str
    anti_patterns: list[str] = []
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
    def edge(self) -> ServiceSpec:
        return next(s for s in self.services if s.edge)

    def command(self, service: ServiceSpec, host: str, budget_cpus: int,
                python: str = sys.executable) -> list[str]:
        """The argv that starts one service (local processes and containers alike)."""
        if self.server.kind == "gunicorn":
            assert self.server.config is not None
            return [python, "-m", "gunicorn", "-c", self.server.config,
                    "--workers", str(service.worker_count(budget_cpus)),
                    "--bind", f"{host}:{service.port}", service.app]
        return [python, "-m", "uvicorn", service.app, "--host", host, "--port", str(service.port)]


def load_manifest(path: Path) -> StageManifest:
    try:
        data = tomllib.loads(path.read_text())
        return StageManifest.model_validate({**data, "folder": path.parent})
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()
        raise UserError(f"invalid manifest {path}: {' '.join(first[:3])}") from None


def discover(root: Path = REPO_ROOT, extra: list[Path] | None = None) -> list[StageManifest]:
    """Every stage under baseline/, stages/ and optimized/ (and `extra` folders: your own
    variants, e.g. LADDER_EXTRA_STAGES=/path/to/mine), in ladder order."""
    paths = [p for top in STAGE_ROOTS for p in sorted((root / top).rglob(MANIFEST))]
    for folder in extra or []:
        if not folder.is_dir():
            raise UserError(f"extra stages folder {folder} does not exist")
        paths += sorted(folder.rglob(MANIFEST))
    stages = sorted((load_manifest(p) for p in paths), key=lambda m: m.order)
    ids = [s.id for s in stages]
    if len(set(ids)) != len(ids):
        raise UserError(f"duplicate stage ids in manifests: {ids}")
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
