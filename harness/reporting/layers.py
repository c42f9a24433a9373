"""Where a stage's CPU goes: py-spy's speedscope profiles turned into CPU per request by layer
and by function (pandas). No measuring, no plotting.

Each on-CPU sample is charged to one layer: the first frame from the leaf up that belongs to a
named layer or to the repository's own code (the domain and the stages). A sample inside
`socket.send` called by httpcore is the HTTP client's; one inside `json.dumps` called by
starlette is JSON's; one in a stage's own function is `app code`, and a library that function
calls is the library's layer, so the app layer is the project's own Python. Frames of the
standard library that name no layer (socket, threading…) pass the sample up; a stack of only
such frames (or none: py-spy's process frame alone) is `other`.

A service of your own (harness.service) is layered the same way with other names (`Layering`):
its own code (every file under a variant's tree) is one layer named after the service, and every
other frame's layer is the installed package it belongs to, with its kind where the ladder knows
it (`sqlalchemy (ORM)`, `psycopg (DB driver)`, `passlib (password hashing)`): a service's
libraries are not the ladder's, so none of them falls into `other` for lack of a group.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.kinds import Kind, measurement_id, stage_of
from harness.paths import REPO_ROOT
from harness.run_folder import read_json, read_measurement, read_stage

# layer -> the top-level modules (site-packages or the standard library) that make it up, in
# the order a frame is tested; a frame's module is the first part of its path under
# site-packages/ or lib/python3.X/
LAYERS: dict[str, tuple[str, ...]] = {
    "JSON": ("json", "orjson", "ujson"),
    "validation": ("pydantic", "pydantic_core", "annotated_types", "email_validator"),
    "ORM": ("sqlalchemy", "greenlet", "sqlmodel", "alembic", "tortoise", "peewee", "databases"),
    "DB driver": ("psycopg", "psycopg_pool", "psycopg_binary", "psycopg2", "asyncpg", "pg8000", "aiopg"),
    "HTTP client": ("requests", "urllib3", "httpx", "httpcore", "http/client", "certifi", "charset_normalizer",
                    "idna"),
    "auth & crypto": ("jwt", "hashlib", "hmac", "secrets", "cryptography", "passlib", "bcrypt", "base64", "jose",
                      "argon2", "pwdlib", "itsdangerous", "authlib"),
    "logging": ("logging",),
    "event loop": ("asyncio", "uvloop", "selectors", "anyio", "sniffio"),
    "server & framework": ("uvicorn", "gunicorn", "starlette", "fastapi", "h11", "httptools", "multipart",
                           "python_multipart", "wsgiref", "socketserver", "http/server"),
}
APP = "app code"
OTHER = "other"
POSTGRES = "PostgreSQL"
ORDER = [*LAYERS, APP, OTHER, POSTGRES]
# the repository's own code: what a stage's author wrote
APP_FOLDERS = ("domain", "baseline", "stages", "optimized", "services")
# h11 parses both sides of HTTP: under an HTTP client's frame it is the client's
CLIENT_MARKERS = ("httpcore", "httpx", "requests", "urllib3")


def module_of(path: str) -> str | None:
    """`.../site-packages/sqlalchemy/orm/query.py` -> `sqlalchemy`; `.../lib/python3.11/json/encoder.py`
    -> `json`; `.../python3.11/http/client.py` -> `http/client`; a repository file -> `app:<folder>`."""
    parts = Path(path).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            rest = parts[parts.index(marker) + 1:]
            return _top(rest)
    for i, part in enumerate(parts):
        if part.startswith("python3.") and i > 0 and parts[i - 1] == "lib":
            return _top(parts[i + 1:])
    try:
        relative = Path(path).resolve().relative_to(REPO_ROOT).parts
    except (ValueError, OSError):
        relative = parts
    if relative and relative[0] in APP_FOLDERS:
        return f"app:{relative[0]}"
    # a container's own copy of the repository (/app/domain/...)
    for folder in APP_FOLDERS:
        if folder in parts[:-1]:
            return f"app:{folder}"
    return None


def _top(rest: tuple[str, ...]) -> str | None:
    if not rest:
        return None
    head = rest[0].removesuffix(".py")
    if head in ("http", "email") and len(rest) > 1:
        return f"{head}/{rest[1].removesuffix('.py')}"
    return head.split(".")[0]


_BY_MODULE = {module: layer for layer, modules in LAYERS.items() for module in modules}


def layer_of_stack(modules: list[str | None]) -> str:
    """The layer a sample is charged to; `modules` run from the root frame to the leaf. The first
    frame from the leaf up that is a named layer or the repository's own code decides."""
    for i in range(len(modules) - 1, -1, -1):
        module = modules[i]
        if module is None:
            continue
        if module.startswith("app:"):
            return APP
        layer = _BY_MODULE.get(module)
        if layer == "server & framework" and module == "h11" and any(m in CLIENT_MARKERS for m in modules[:i]):
            return "HTTP client"
        if layer:
            return layer
    return OTHER


# a service's package kinds where they differ from the ladder's groups (the ladder keeps its own)
SERVICE_KINDS = {"passlib": "password hashing", "bcrypt": "password hashing", "argon2": "password hashing",
                 "pwdlib": "password hashing", "hashlib": "password hashing", "orjson": "serialization",
                 "ujson": "serialization", "json": "serialization", "msgspec": "serialization",
                 "pydantic": "validation", "pydantic_core": "validation", "uvicorn": "server", "gunicorn": "server",
                 "uvicorn_worker": "server", "h11": "server", "httptools": "server", "starlette": "framework",
                 "fastapi": "framework", "multipart": "framework", "python_multipart": "framework",
                 "anyio": "threadpool and event loop", "asyncio": "event loop", "uvloop": "event loop",
                 "concurrent": "threadpool", "threading": "threadpool", "queue": "threadpool"}


@dataclass(frozen=True)
class Layering:
    """How a sample's stack names its layer: the ladder's groups (no `own`), or a service's — its
    own code (files under `own` roots) as one layer called `own_name`, every installed package as a
    layer of its own."""
    own: tuple[str, ...] = ()
    own_name: str = APP

    @classmethod
    def of_run(cls, run: dict[str, Any]) -> Layering:
        """The run's layering, from run.json: a service's variants' trees, else the ladder's."""
        if not run.get("service"):
            return cls()
        trees = tuple(str(v["tree"]) for v in run.get("variants", []) if v.get("tree"))
        return cls(trees, f"{run['service']['name']} (own code)")

    def module(self, path: str) -> str | None:
        if not self.own:
            return module_of(path)
        if any(path.startswith(root.rstrip("/") + "/") for root in self.own):
            return "own:"
        parts = Path(path).parts
        for marker in ("site-packages", "dist-packages"):
            if marker in parts and (top := _top(parts[parts.index(marker) + 1:])):
                return f"package:{top}"
        return module_of(path)

    def layer(self, modules: list[str | None]) -> str:
        if not self.own:
            return layer_of_stack(modules)
        for module in reversed(modules):
            if module is None:
                continue
            if module == "own:":
                return self.own_name
            name = module.removeprefix("package:")
            kind = SERVICE_KINDS.get(name) or _BY_MODULE.get(name)
            if module.startswith("package:"):
                return f"{name} ({kind})" if kind else name
            if kind:  # the standard library's modules that name a layer (json, asyncio, hashlib, …)
                return f"{name} ({kind})"
        return OTHER


def ordered(found: list[str], cpu: Mapping[Any, Any] | None = None) -> list[str]:
    """Layers in the order tables and charts show them: the ladder's own order, then any other
    (a service's packages) by CPU, largest first, then `other` and PostgreSQL last."""
    known = [layer for layer in ORDER if layer in found and layer not in (OTHER, POSTGRES)]
    rest = sorted((f for f in found if f not in ORDER), key=lambda f: -float((cpu or {}).get(f, 0.0)))
    return [*known, *rest, *[layer for layer in (OTHER, POSTGRES) if layer in found]]


def read_profile(path: Path) -> tuple[list[dict[str, Any]], list[tuple[list[int], float]]]:
    """A speedscope file's frames, and its samples (frame indices root→leaf, weight in seconds)
    over all its profiles (one per thread)."""
    data = json.loads(path.read_text())
    frames = data["shared"]["frames"]
    samples = []
    for profile in data["profiles"]:
        if profile.get("type") != "sampled":
            continue
        scale = {"seconds": 1.0, "milliseconds": 1e-3, "microseconds": 1e-6}.get(profile.get("unit", "seconds"), 1.0)
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            samples.append((stack, weight * scale))
    return frames, samples


def profile_tables(profile_dir: Path, layering: Layering = Layering()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CPU seconds by (service, layer) and by (service, layer, function: its leaf frame) over
    every speedscope file in `profile_dir`."""
    by_layer: dict[tuple[str, str], float] = defaultdict(float)
    by_function: dict[tuple[str, str, str], float] = defaultdict(float)
    for path in sorted(profile_dir.glob("*.speedscope.json")):
        service = path.name.removesuffix(".speedscope.json")
        frames, samples = read_profile(path)
        modules = [layering.module(f.get("file") or "") for f in frames]
        for stack, seconds in samples:
            if not stack:
                continue
            layer = layering.layer([modules[i] for i in stack])
            leaf = frames[stack[-1]]
            by_layer[(service, layer)] += seconds
            by_function[(service, layer, function_name(leaf, layering))] += seconds
    layers = pd.DataFrame([(s, lay, sec) for (s, lay), sec in by_layer.items()],
                          columns=["service", "layer", "cpu_s"])
    functions = pd.DataFrame([(s, lay, fn, sec) for (s, lay, fn), sec in by_function.items()],
                             columns=["service", "layer", "function", "cpu_s"])
    return layers, functions


NATIVE = "(no Python frame: the interpreter or a C extension)"


def function_name(frame: dict[str, Any], layering: Layering = Layering()) -> str:
    if not frame.get("file") and str(frame.get("name", "")).startswith("process "):
        return NATIVE  # py-spy's per-process root frame (--subprocesses), alone on the stack
    module = layering.module(frame.get("file") or "") or Path(frame.get("file") or "?").name
    if module == "own:":
        module = _own_module(frame.get("file") or "", layering.own)
    return f"{frame.get('name', '?')} ({module.removeprefix('app:').removeprefix('package:')})"


def _own_module(path: str, roots: tuple[str, ...]) -> str:
    """An own-code file as the service's module path (`notes/listing.py`), without the tree it ran from."""
    for root in roots:
        if path.startswith(root.rstrip("/") + "/"):
            return path[len(root.rstrip("/")) + 1:]
    return Path(path).name


@dataclass(frozen=True)
class StageProfile:
    """One profiled measurement: CPU per request by layer and by function, and the profile's raw
    sample time against the CPU the kernel counted for the same processes."""

    layers: pd.DataFrame  # layer, cpu_ms_per_req (PostgreSQL's from the window's CPU reading)
    functions: pd.DataFrame  # layer, function, cpu_ms_per_req
    sampled_ms_per_req: float  # the services' samples at 1/rate s each, per request
    measured_ms_per_req: float  # the same processes' CPU per request as the kernel counted it
    profiler_cpu_pct: float  # the profilers' own CPU, % of one load CPU over the window

    @property
    def sample_ratio(self) -> float:
        """Raw sample time over measured CPU: above 1 where services waited for the CPU (below)."""
        return self.sampled_ms_per_req / self.measured_ms_per_req if self.measured_ms_per_req else float("nan")


def measurement_layers(stage_dir: Path, requests: int, layering: Layering = Layering()) -> StageProfile | None:
    """One profiled measurement's tables; None when the measurement has no profile.

    py-spy counts a thread as active when the kernel says it is runnable, and a runnable thread on
    a saturated budget is often waiting for the CPU, not on it: the raw sample time came out 1.1x
    the measured CPU on s5 and 2.5x on s2 (five busy processes on one CPU, in a quick run).
    Preemption does not pick a layer, so each service's samples give the *shares* of its
    CPU, and those shares are applied to the CPU the kernel counted for that service in the window.
    The layers then add up to the measured CPU per request; the raw ratio is kept (`sample_ratio`)."""
    measurement_path = stage_dir / "measurement.json"
    if not measurement_path.is_file() or requests <= 0:
        return None
    measurement = read_measurement(stage_dir)
    record = measurement.get("profile")
    profile_dir = stage_dir / "profile"
    if not record or not profile_dir.is_dir():
        return None
    layers, functions = profile_tables(profile_dir, layering)
    measured = {name: float(s.get("measured_cpu_s", 0.0)) for name, s in record.get("services", {}).items()}
    sampled = layers.groupby("service")["cpu_s"].sum() if not layers.empty else pd.Series(dtype=float)
    scale = {name: measured.get(name, 0.0) / float(seconds) for name, seconds in sampled.items() if seconds > 0}
    for frame in (layers, functions):
        frame["cpu_s"] = [c * scale.get(svc, 0.0) for svc, c in zip(frame["service"], frame["cpu_s"], strict=True)]
    by_layer = layers.groupby("layer")["cpu_s"].sum() if not layers.empty else pd.Series(dtype=float)
    # the ladder's every layer (a zero says it was looked for), a service's as they were found
    names = ORDER if not layering.own else ordered(list(by_layer.index), by_layer.to_dict())
    rows = [{"layer": layer, "cpu_ms_per_req": 1000 * float(by_layer.get(layer, 0.0)) / requests}
            for layer in names if layer != POSTGRES]
    rows.append({"layer": POSTGRES, "cpu_ms_per_req": 1000 * float(measurement["db_cpu_seconds"]) / requests})
    if not functions.empty:
        functions = functions.groupby(["layer", "function"], as_index=False).agg(cpu_s=("cpu_s", "sum"))
        functions["cpu_ms_per_req"] = 1000 * functions["cpu_s"] / requests
        functions = functions.sort_values("cpu_ms_per_req", ascending=False).drop(columns="cpu_s")
    window = float(measurement["window_seconds"]) or 1.0
    return StageProfile(layers=pd.DataFrame(rows), functions=functions.reset_index(drop=True),
                        sampled_ms_per_req=1000 * float(sampled.sum()) / requests,
                        measured_ms_per_req=1000 * sum(measured.values()) / requests,
                        profiler_cpu_pct=100 * float(record.get("profiler_cpu_s", 0.0)) / window)


PY_SPY_NOTE = (
    "Each stage was measured a second time with py-spy (`--gil --nonblocking`) attached to every service, on the "
    "load CPUs. A sample is charged to the first frame from the leaf up that belongs to a named layer (a socket "
    "send under httpcore is the HTTP client's; the app layer is the repository's own Python, not the libraries it "
    "calls). py-spy takes a runnable thread for a running one, so on a busy budget its raw sample time exceeds "
    "the CPU: each service's samples give the shares of the CPU the kernel counted for it in the window. "
    "Where processes spend CPU without the GIL (system calls, C code that releases it: the blocking stages' "
    "socket I/O) the samples see less than the CPU, and that CPU is shared out among the layers the samples did "
    "see; `raw samples / CPU` says which way each stage leans. `event loop` includes uvloop's own C code (its "
    "frames show as `Runner.run`). PostgreSQL's row is its measured CPU. Raw profiles: "
    "`stages/<stage>.profiled/profile/*.speedscope.json` "
    "(open at https://www.speedscope.app; not committed).")
TOP_FUNCTIONS = 25  # per stage in functions.csv: enough to name what moved, small enough to commit


def write_profile_tables(run_dir: Path, measurements: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame | None:
    """layers.csv (stage, layer, CPU ms per request), functions.csv (each stage's top functions)
    and profiles.csv (per stage: what the profile accounts for, the profilers' CPU, and the
    throughput with the profiler against without it: its overhead). None: nothing was profiled."""
    layer_frames, function_frames, rows = [], [], []
    layering = Layering.of_run(read_json(run_dir / "run.json")) if (run_dir / "run.json").is_file() else Layering()
    for stage_dir in sorted((run_dir / "stages").glob("*")):
        meta = read_stage(stage_dir) if (stage_dir / "stage.json").is_file() else {}
        if meta.get("status") != "ok" or meta.get("kind") != Kind.PROFILED:
            continue
        found = measurements[(measurements["stage"] == meta["id"]) & (measurements["repeat"] == meta.get("repeat", 1))]
        if found.empty:
            continue
        profile = measurement_layers(stage_dir, int(found["requests"].iloc[0]), layering)
        if profile is None:
            continue
        stage = stage_of(str(meta["id"]), Kind.PROFILED)
        repeat = int(meta.get("repeat", 1))
        layer_frames.append(profile.layers.assign(stage=stage, repeat=repeat, order=meta["order"]))
        function_frames.append(profile.functions.assign(stage=stage, repeat=repeat))
        rows.append({"stage": stage, "repeat": repeat, "order": meta["order"],
                     "sampled_ms_per_req": profile.sampled_ms_per_req,
                     "measured_ms_per_req": profile.measured_ms_per_req, "sample_ratio": profile.sample_ratio,
                     "profiler_cpu_pct": profile.profiler_cpu_pct})
    if not rows:
        return None
    layers = pd.concat(layer_frames).groupby(["order", "stage", "layer"], as_index=False, sort=False).agg(
        cpu_ms_per_req=("cpu_ms_per_req", "median"))
    layers = layers.sort_values(["order"], kind="stable").drop(columns="order")
    layers.to_csv(run_dir / "layers.csv", index=False, float_format="%.4g")
    functions = pd.concat(function_frames).groupby(["stage", "layer", "function"], as_index=False).agg(
        cpu_ms_per_req=("cpu_ms_per_req", "median"))
    functions = functions.sort_values(["stage", "cpu_ms_per_req"], ascending=[True, False])
    functions.groupby("stage").head(TOP_FUNCTIONS).to_csv(run_dir / "functions.csv", index=False, float_format="%.4g")
    per = (pd.DataFrame(rows).groupby(["order", "stage"], as_index=False).median(numeric_only=True)
           .drop(columns="repeat"))
    rps = summary.set_index("stage")["rps"] if not summary.empty else pd.Series(dtype=float)
    cpu = summary.set_index("stage")["cpu_s_per_1k"] if not summary.empty else pd.Series(dtype=float)
    totals = layers.groupby("stage")["cpu_ms_per_req"].sum()
    # the layers against the server CPU per request the profiled window measured (cpu_s_per_1k)
    per["layers_ms_per_req"] = [float(totals.get(s, float("nan"))) for s in per["stage"]]
    profiled = {s: measurement_id(s, Kind.PROFILED) for s in per["stage"]}
    per["window_ms_per_req"] = [float(cpu.get(profiled[s], float("nan"))) for s in per["stage"]]
    per["rps_profiled"] = [float(rps.get(profiled[s], float("nan"))) for s in per["stage"]]
    per["rps"] = [float(rps.get(s, float("nan"))) for s in per["stage"]]
    # the profiler's cost, pair by pair: repeat k of the plain measurement against repeat k of the
    # profiled one (made one after the other), so drift between repeats cancels; median of the pairs
    pairs = [_pairs(measurements, s) for s in per["stage"]]
    per["overhead_pct"] = [float(pd.Series(p).median()) if p else float("nan") for p in pairs]
    per["overhead_pairs"] = [" ".join(f"{v:+.1f}" for v in p) for p in pairs]
    per = per.sort_values("order").drop(columns="order")
    per.to_csv(run_dir / "profiles.csv", index=False, float_format="%.4g")
    return per


def _pairs(measurements: pd.DataFrame, stage: str) -> list[float]:
    """The throughput lost to the profiler in each repeat (%; negative: faster with it)."""
    ok = measurements[measurements["status"] == "ok"]
    plain = ok[ok["stage"] == stage].set_index("repeat")["rps"]
    profiled = ok[ok["stage"] == measurement_id(stage, Kind.PROFILED)].set_index("repeat")["rps"]
    return [100 * (1 - float(profiled[r]) / float(plain[r])) for r in sorted(set(plain.index) & set(profiled.index))]


def read_profile_tables(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
    """The run's layers.csv, functions.csv and profiles.csv; None when the run was not profiled."""
    paths = [run_dir / name for name in ("layers.csv", "functions.csv", "profiles.csv")]
    if not all(p.is_file() for p in paths):
        return None
    layers, functions, profiles = (pd.read_csv(p) for p in paths)
    return layers, functions, profiles
