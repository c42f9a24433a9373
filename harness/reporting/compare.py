"""`harness compare A B`: per-stage changes between two runs, and a verdict you can gate on.
`A` and `B` may name a stage too (`RUN:STAGE`): two variants of a service in one run
(`harness compare RUN:before RUN:after`), or two stages of two runs.

Each stage's change is judged as the gate judges it (harness.reporting.change): the ratio B/A of
CPU per request (by default), throughput and p95, each with its confidence interval, and a call —
slower, faster, no change larger than X %, undecided, or not enough data when either side has
fewer than three windows (one window says nothing of its own noise, so nothing is called on it).
Two variants of one run were measured in shared blocks and are paired block by block; two runs
are not, and their windows are compared as two samples. A regression (slower, on the figure
judged) fails the gate.
A row whose load generator was saturated in either run (the ceiling, typically) measures locust,
not the stack, and a row whose emulated network did not hold its RTT measures the emulator: both
are shown but never called.
Runs measured under different conditions (machine and its speed at the time, load, CPU budget,
backend) are still compared, but each difference is named, since a ratio then measures the
conditions as much as the code.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from harness.errors import UserError
from harness.reporting.analysis import measurements, read_summary, run_host_speed
from harness.reporting.answer import Answer
from harness.reporting.change import CPU, Change, Figure, Rule, changes
from harness.reporting.flames import grown_line
from harness.reporting.statements import why_lines
from harness.run_folder import load_run


@dataclass(frozen=True)
class StageComparison:
    stage: str
    rps_a: float
    rps_b: float
    p95_a: float
    p95_b: float
    verdict: str  # the judged figure's call, or why nothing is called (GENERATOR_BOUND, NETWORK_NOT_HELD)
    changes: list[Change] = field(default_factory=list)  # the judged figure first

    @property
    def rps_ratio(self) -> float:
        return self.rps_b / self.rps_a

    @property
    def p95_ratio(self) -> float:
        return self.p95_b / self.p95_a

    @property
    def regressed(self) -> bool:
        return bool(self.changes) and self.changes[0].regressed and self.verdict == self.changes[0].call.value

    @property
    def called(self) -> bool:
        """Whether the figure judged was decided either way (not undecided, not without data)."""
        return bool(self.changes) and self.changes[0].call.decided and self.verdict == self.changes[0].call.value


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


def compare_runs(run_a: Path, run_b: Path, rule: Rule | None = None, stage_a: str | None = None,
                 stage_b: str | None = None, figure: Figure = CPU) -> list[StageComparison]:
    """Every stage both ladder runs measured, A against B (or the one pair of stages named); a
    UserError for what cannot be compared."""
    rule = rule or Rule()
    for run in (run_a, run_b):
        if (kind := load_run(run)["kind"]) != "ladder":
            raise UserError(f"{run} is a {kind} run; compare takes two ladder runs (harness run-all)")
    a = read_summary(run_a).set_index("stage")
    b = read_summary(run_b).set_index("stage")
    per_a = measurements(run_a)
    per_b = per_a if run_b == run_a else measurements(run_b)
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
        found = changes(per_a, first, per_b, second, rule, paired=run_a == run_b)
        found.sort(key=lambda c: c.figure.name != figure.name)
        verdict = found[0].call.value
        if _generator_bound(ra) or _generator_bound(rb):
            # e.g. the ceiling: p95 29 vs 33 ms between two runs of the same code was locust's own
            # latency at 97 % CPU, measured once, with no spread to say it was noise
            verdict = GENERATOR_BOUND
        elif _network_not_held(ra) or _network_not_held(rb):
            # the wire added more (or less) than the RTT asked for: it set the numbers, not the code
            verdict = NETWORK_NOT_HELD
        out.append(StageComparison(stage, float(ra["rps"]), float(rb["rps"]), float(ra["p95_ms"]),
                                   float(rb["p95_ms"]), verdict, found))
    if not out:
        raise UserError(f"{run_a} and {run_b} have no measured stage in common")
    return out


def moved(run_dir: Path, base: str, candidate: str) -> list[str]:
    """What moved between two variants of one run: their statements, then their profiles."""
    return [*why_lines(run_dir, base, candidate), *grown_line(run_dir, base, candidate)]


def compare_answer(rows: list[StageComparison], run_a: Path, run_b: Path) -> Answer:
    """The answer first: one pair of stages said as the gate says it; a ladder's stages counted by
    call, the called ones named."""
    if len(rows) == 1:
        r = rows[0]
        a_name, _, b_name = r.stage.partition(" → ")
        note = "" if r.verdict == r.changes[0].call.value else f"not called: {r.verdict}"
        why = moved(run_a, a_name, b_name) if run_a == run_b and b_name else []
        return Answer(a_name if b_name else run_a.name, b_name or run_b.name,
                      r.changes[0] if not note else None, r.changes[1:], why=why, note=note)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    called = [r for r in rows if r.called]
    return Answer(run_a.name, run_b.name, None, why=[f"{r.stage}: {r.changes[0].sentence()}" for r in called],
                  note=", ".join(f"{n} {call}" for call, n in counts.items()), stages=len(rows))


def exit_code(rows: list[StageComparison]) -> int:
    """compare's exit code (docs/ci.md): 1 a stage slower, 3 nothing could be called either way, else 0."""
    if any(r.regressed for r in rows):
        return 1
    return 0 if any(r.called for r in rows) else 3


def variant_answers(run_dir: Path, rule: Rule | None = None) -> list[Answer]:
    """A service run's answer first: every variant against the first (the base), window by window,
    and what moved in its statements."""
    summary = read_summary(run_dir)
    ok = summary[(summary["status"] == "ok") & (summary["kind"] == "ladder")]["stage"].astype(str).tolist()
    variants = [v["id"] for v in load_run(run_dir).get("variants", [])]
    if len(variants) < 2 or variants[0] not in ok:
        return []
    per, base = measurements(run_dir), variants[0]
    out = []
    for candidate in variants[1:]:
        if candidate not in ok:
            out.append(Answer(base, candidate, None, note="it was not measured (see Failed stages)"))
            continue
        found = changes(per, base, per, candidate, rule or Rule(), paired=True)
        out.append(Answer(base, candidate, found[0], found[1:],
                          why=moved(run_dir, base, candidate)))
    return out
