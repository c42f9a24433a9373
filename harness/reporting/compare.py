"""`harness compare A B`: per-stage ratios between two runs, and a verdict you can gate on.
`A` and `B` may name a stage too (`RUN:STAGE`): two variants of a service in one run
(`harness compare RUN:before RUN:after`), or two stages of two runs.

A change is called only when it passes the threshold AND lies outside both runs' spread
(their min..max over repeats): what one noisy run cannot tell apart is reported as
"within noise". A regression (lower throughput or higher p95 beyond both) fails the gate.
A row whose load generator was saturated in either run (the ceiling, typically) measures locust,
not the stack, and a row whose emulated network did not hold its RTT measures the emulator: both
are shown but never called.
Runs measured under different conditions (machine and its speed at the time, load, CPU budget,
backend) are still compared, but each difference is named, since a ratio then measures the
conditions as much as the code.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from harness.errors import OptionError, UserError
from harness.reporting.analysis import read_summary, run_host_speed
from harness.run_folder import load_run


@dataclass(frozen=True)
class StageComparison:
    stage: str
    rps_a: float
    rps_b: float
    p95_a: float
    p95_b: float
    rps_verdict: str
    p95_verdict: str

    @property
    def rps_ratio(self) -> float:
        return self.rps_b / self.rps_a

    @property
    def p95_ratio(self) -> float:
        return self.p95_b / self.p95_a

    @property
    def regressed(self) -> bool:
        return "regression" in (self.rps_verdict, self.p95_verdict)


def _verdict(a: pd.Series, b: pd.Series, column: str, low: str, high: str, threshold: float,
             higher_is_better: bool) -> str:
    ratio = b[column] / a[column]
    if abs(ratio - 1) <= threshold:
        return "within threshold"
    a_min, a_max = a.get(low, a[column]), a.get(high, a[column])
    b_min, b_max = b.get(low, b[column]), b.get(high, b[column])
    if max(a_min, b_min) <= min(a_max, b_max):  # spreads overlap
        return "within noise"
    better = (ratio > 1) == higher_is_better
    return "improvement" if better else "regression"


# run.json sections that set the conditions a number was measured under
CONDITIONS = ("machine", "backend", "budget", "load", "network")


def _flatten(record: Any, prefix: str) -> dict[str, Any]:
    if isinstance(record, dict):
        return {k: v for key, value in record.items() for k, v in _flatten(value, f"{prefix}.{key}").items()}
    return {prefix: record}


def condition_differences(run_a: Path, run_b: Path) -> list[str]:
    """'load.warmup: 10.0 vs 20.0' for every condition the two runs do not share, and the
    host's speed when it differs by more than HOST_SPEED_TOLERANCE."""
    a, b = load_run(run_a), load_run(run_b)
    out = []
    for section in CONDITIONS:
        fa, fb = _flatten(a.get(section), section), _flatten(b.get(section), section)
        for key in sorted(set(fa) | set(fb)):
            if fa.get(key) != fb.get(key):
                out.append(f"{key}: {fa.get(key)} vs {fb.get(key)}")
    if speed := host_speed_difference(run_host_speed(run_a), run_host_speed(run_b)):
        out.append(speed)
    return out


# the same CPU model can be twice as fast one hour as the next on a shared host (harness.measure.host_speed)
HOST_SPEED_TOLERANCE = 0.10


def host_speed_difference(a: float, b: float) -> str | None:
    def shown(v: float) -> str:
        return "not watched" if np.isnan(v) else f"{v:,.0f}"
    if np.isnan(a) and np.isnan(b):
        return None
    if np.isnan(a) or np.isnan(b):
        return f"host speed: {shown(a)} vs {shown(b)} units/s"
    if abs(b / a - 1) <= HOST_SPEED_TOLERANCE:
        return None
    return f"host speed: {a:,.0f} vs {b:,.0f} units/s (B/A {b / a:.2f})"


# the verdict of a row whose numbers the load generator set (analysis.GENERATOR_BOUND_PCT)
GENERATOR_BOUND = "generator-bound"


def _generator_bound(row: pd.Series) -> bool:
    return bool(row.get("generator_bound", False))


# the verdict of a row whose emulated network did not hold its RTT (harness.network.emulator)
NETWORK_NOT_HELD = "network not held"


def _network_not_held(row: pd.Series) -> bool:
    return not bool(row["net_held"])


def target(text: str) -> tuple[Path, str | None]:
    """`RUN` or `RUN:STAGE` as a results folder and the stage it names (None: every stage)."""
    folder, colon, stage = text.rpartition(":")
    if colon and stage and Path(folder).is_dir() and not Path(text).is_dir():
        return Path(folder), stage
    return Path(text), None


def compare_runs(run_a: Path, run_b: Path, threshold: float = 0.10, stage_a: str | None = None,
                 stage_b: str | None = None) -> list[StageComparison]:
    """Every stage both ladder runs measured, A against B (or the one pair of stages named); a
    UserError for what cannot be compared."""
    if not 0 < threshold < 1:
        raise OptionError("{0} must be between 0 and 1", "threshold")
    for run in (run_a, run_b):
        if (kind := load_run(run)["kind"]) != "ladder":
            raise UserError(f"{run} is a {kind} run; compare takes two ladder runs (harness run-all)")
    a = read_summary(run_a).set_index("stage")
    b = read_summary(run_b).set_index("stage")
    pairs: list[tuple[str, str]]
    if stage_a or stage_b:
        named = str(stage_a or stage_b)
        pairs = [(stage_a or named, stage_b or named)]
        for run, table, stage in ((run_a, a, pairs[0][0]), (run_b, b, pairs[0][1])):
            if stage not in table.index or table.loc[stage, "status"] != "ok":
                raise UserError(f"{run} has no measured stage {stage}; it has {', '.join(map(str, table.index))}")
    else:
        pairs = [(str(s), str(s)) for s in a.index
                 if s in b.index and a.loc[s, "status"] == "ok" and b.loc[s, "status"] == "ok"]
    out = []
    for first, second in pairs:
        stage = first if first == second else f"{first} → {second}"
        ra, rb = cast(pd.Series, a.loc[first]), cast(pd.Series, b.loc[second])
        if _generator_bound(ra) or _generator_bound(rb):
            # e.g. the ceiling: p95 29 vs 33 ms between two runs of the same code was locust's own
            # latency at 97 % CPU, measured once, with no spread to say it was noise
            out.append(StageComparison(stage, float(ra["rps"]), float(rb["rps"]), float(ra["p95_ms"]),
                                       float(rb["p95_ms"]), GENERATOR_BOUND, GENERATOR_BOUND))
            continue
        if _network_not_held(ra) or _network_not_held(rb):
            # the wire added more (or less) than the RTT asked for: it set the numbers, not the code
            out.append(StageComparison(stage, float(ra["rps"]), float(rb["rps"]), float(ra["p95_ms"]),
                                       float(rb["p95_ms"]), NETWORK_NOT_HELD, NETWORK_NOT_HELD))
            continue
        out.append(StageComparison(
            stage, float(ra["rps"]), float(rb["rps"]), float(ra["p95_ms"]), float(rb["p95_ms"]),
            _verdict(ra, rb, "rps", "rps_min", "rps_max", threshold, higher_is_better=True),
            _verdict(ra, rb, "p95_ms", "p95_min", "p95_max", threshold, higher_is_better=False),
        ))
    if not out:
        raise UserError(f"{run_a} and {run_b} have no measured stage in common")
    return out
