"""Which way the load generator reaches a containerised stage, measured, not assumed.

Two paths lead from the host to the edge container: its port published on 127.0.0.1,
where Docker's userland proxy (docker-proxy, a process outside the CPU budget) copies
every byte, or the container's own address on the run's bridge network. The first is
what users type; the second is what a benchmark wants, unless the host cannot route to
container addresses (Docker Desktop on macOS and Windows). A run measures both on the
fastest thing it will serve — the last stage's static JSON, where a capping path shows
first — and loads the stages through the faster one; the bridge wins ties, since it
adds no process outside the budget.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.errors import StageFailed
from harness.load.samples import latency_stats, load_samples
from harness.load.shape import LoadShape

BRIDGE, PUBLISHED = "bridge", "published"
TIE = 0.05  # the published port must be this much faster to be chosen


def path_load(run_shape: LoadShape) -> LoadShape:
    """The run's users on static JSON, in a short window: a path that caps shows at once (here the
    published port serves about half the bridge's rate, 6,700 against 12,500 req/s: some 25,000
    requests in 2 s separate them far beyond the 5 % tie)."""
    return LoadShape(users=run_shape.users, warmup=min(run_shape.warmup, 0.5),
                     duration=min(run_shape.duration, 2.0), mix="ceiling")


@dataclass(frozen=True)
class PathProbe:
    path: str
    url: str
    reachable: bool
    rps: float = 0.0
    p95_ms: float = 0.0
    failures: int = 0

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"url": self.url, "reachable": self.reachable}
        if self.reachable:
            record |= {"rps": round(self.rps, 1), "p95_ms": round(self.p95_ms, 2), "failures": self.failures}
        return record


def answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def measure_path(path: str, url: str, measure_at: Callable[[str, Path], dict[str, Any]], out_dir: Path) -> PathProbe:
    """Load `url` once through `measure_at(url, folder)`; its samples give rate and p95."""
    if not answers(url):
        return PathProbe(path, url, reachable=False)
    folder = out_dir / path
    folder.mkdir(parents=True, exist_ok=True)
    window = measure_at(url, folder)["window_seconds"]
    stats = latency_stats(load_samples(folder), window)
    return PathProbe(path, url, True, stats["rps"], stats["p95_ms"], int(stats["failures"]))


def choose(bridge: PathProbe, published: PathProbe) -> tuple[str, str]:
    """(chosen path, why) from the two probes."""
    if not bridge.reachable and not published.reachable:
        raise StageFailed("the edge answered on neither its bridge address nor its published port")
    if not bridge.reachable:
        return PUBLISHED, "this host cannot reach container addresses on the bridge network"
    if not published.reachable:
        return BRIDGE, "the published port did not answer"
    ratio = published.rps / bridge.rps if bridge.rps else float("inf")
    if ratio > 1 + TIE:
        return PUBLISHED, f"the published port served {ratio:.2f}× the bridge's static-JSON rate"
    return BRIDGE, (f"the published port served {ratio:.2f}× the bridge's static-JSON rate "
                    f"(p95 {published.p95_ms:.0f} vs {bridge.p95_ms:.0f} ms); "
                    "the bridge adds no process outside the budget")
