"""Each profiled stage's flame graph as data: flames.json, derived from py-spy's speedscope files
when the run's tables are written, and committed with them (the raw profiles are not).

A flame is a tree: the stage at its root, each service under it, each call below its caller.
A node's value is CPU ms per request (each service's samples scaled to the CPU the kernel
counted for it in the window, as the layers are: harness.reporting.layers), and its layer is the
layer of its own frame (its module's: the same names and colours as layers.csv). Calls worth less
than PRUNE_SHARE of the stage are left out (their time stays in their caller's total), so a
stage's flame is a few kilobytes whatever the window's length.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.kinds import Kind, stage_of
from harness.reporting.layers import OTHER, Layering, function_name, read_profile
from harness.run_folder import read_json, read_measurement, read_stage

FLAMES = "flames.json"
PRUNE_SHARE = 0.005
MAX_DEPTH = 60


def _node(name: str, layer: str) -> dict[str, Any]:
    return {"name": name, "layer": layer, "value": 0.0, "children": {}}


def stage_flame(stage_dir: Path, requests: int, layering: Layering) -> dict[str, Any] | None:
    """The stage's flame (None without a profile), values in CPU ms per request."""
    record = read_measurement(stage_dir).get("profile") if (stage_dir / "measurement.json").is_file() else None
    profile_dir = stage_dir / "profile"
    if not record or not profile_dir.is_dir() or requests <= 0:
        return None
    root = _node(stage_of(stage_dir.name, Kind.PROFILED), "")
    for path in sorted(profile_dir.glob("*.speedscope.json")):
        service = path.name.removesuffix(".speedscope.json")
        frames, samples = read_profile(path)
        sampled = sum(seconds for stack, seconds in samples if stack)
        measured = float(record.get("services", {}).get(service, {}).get("measured_cpu_s", 0.0))
        if sampled <= 0 or measured <= 0:
            continue
        scale = 1000 * measured / sampled / requests
        names = [function_name(f, layering) for f in frames]
        layers = [_frame_layer(layering, f.get("file") or "") for f in frames]
        # py-spy's per-process root frame (--subprocesses) names a pid, not a call: left out
        process = {i for i, f in enumerate(frames)
                   if not f.get("file") and str(f.get("name", "")).startswith("process ")}
        top = root["children"].setdefault(service, _node(service, "service"))
        for stack, seconds in samples:
            if not stack:
                continue
            value = seconds * scale
            root["value"] += value
            node = top
            node["value"] += value
            for index in [i for i in stack if i not in process][:MAX_DEPTH]:
                node = node["children"].setdefault(names[index], _node(names[index], layers[index]))
                node["value"] += value
    return _pruned(root, root["value"] * PRUNE_SHARE) if root["value"] > 0 else None


def _frame_layer(layering: Layering, path: str) -> str:
    """The layer of one frame on its own (its module's), as layers.csv names layers."""
    module = layering.module(path)
    return OTHER if module is None else layering.layer([module])


def _pruned(node: dict[str, Any], floor: float) -> dict[str, Any]:
    children = [_pruned(c, floor) for c in node["children"].values() if c["value"] >= floor]
    return {"name": node["name"], "layer": node["layer"], "value": round(node["value"], 4),
            "children": sorted(children, key=lambda c: -c["value"])}


def write_flames(run_dir: Path, requests: dict[str, int]) -> Path | None:
    """flames.json: each profiled stage's flame (its first repeat), from its raw profiles; kept as
    it is when the run no longer has them (a committed run)."""
    layering = Layering.of_run(read_json(run_dir / "run.json")) if (run_dir / "run.json").is_file() else Layering()
    flames = {}
    for stage_dir in sorted((run_dir / "stages").glob("*")):
        meta = read_stage(stage_dir) if (stage_dir / "stage.json").is_file() else {}
        if meta.get("kind") != Kind.PROFILED or meta.get("repeat", 1) != 1:
            continue
        stage = stage_of(str(meta["id"]), Kind.PROFILED)
        flame = stage_flame(stage_dir, requests.get(str(meta["id"]), 0), layering)
        if flame is not None:
            flames[stage] = flame
    if not flames:
        return None
    path = run_dir / FLAMES
    path.write_text(json.dumps(flames, separators=(",", ":")) + "\n")
    return path


def read_flames(run_dir: Path) -> dict[str, Any]:
    path = run_dir / FLAMES
    return dict(json.loads(path.read_text())) if path.is_file() else {}


def _paths(node: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], float]:
    """Every node's value by its path of frame names from the root's services down."""
    out = {}
    for child in node["children"]:
        path = (*prefix, str(child["name"]))
        out[path] = float(child["value"])
        out.update(_paths(child, path))
    return out


def differential(base: dict[str, Any], candidate: dict[str, Any]) -> dict[str, Any]:
    """The candidate's flame with each frame's growth against the base (`delta`, ms per request):
    frames matched by their path of names (function and file) from the service down; a frame the
    base has not grew by all of its value. Flame graphs of the two are drawn alike (flames.json)."""
    before = _paths(base)

    def mark(node: dict[str, Any], prefix: tuple[str, ...]) -> dict[str, Any]:
        path = (*prefix, str(node["name"])) if prefix or node is not candidate else ()
        children = [mark(c, path) for c in node["children"]]
        delta = float(node["value"]) - (before.get(path, 0.0) if path else float(base["value"]))
        return {**node, "delta": round(delta, 4), "children": children}
    return mark(candidate, ())


def _self_times(node: dict[str, Any], out: dict[str, float] | None = None) -> dict[str, float]:
    """Each function's own CPU per request (its frames' values less their callees'), summed."""
    out = {} if out is None else out
    own = float(node["value"]) - sum(float(c["value"]) for c in node["children"])
    out[str(node["name"])] = out.get(str(node["name"]), 0.0) + own
    for child in node["children"]:
        _self_times(child, out)
    return out


def grown_frames(base: dict[str, Any], candidate: dict[str, Any], top: int = 5,
                 floor_ms: float = 0.01) -> list[tuple[str, float, float]]:
    """The functions whose own CPU per request grew most: (function, base ms, candidate ms)."""
    a, b = _self_times(base), _self_times(candidate)
    grown = [(name, a.get(name, 0.0), ms) for name, ms in b.items() if ms - a.get(name, 0.0) >= floor_ms]
    return sorted(grown, key=lambda g: g[1] - g[2])[:top]


def grown_line(run_dir: Path, base: str, candidate: str) -> list[str]:
    """The answer's line on the profile: the functions whose own CPU per request grew most."""
    flames = read_flames(run_dir)
    if base not in flames or candidate not in flames:
        return []
    grown = grown_frames(flames[base], flames[candidate], top=3)
    if not grown:
        return []
    return ["profile, own CPU per request that grew most: "
            + "; ".join(f"`{name}` {b - a:+.2f} ms" for name, a, b in grown)]
