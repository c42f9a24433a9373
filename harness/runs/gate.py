"""`harness gate`: is the candidate slower than the base, decided within a wall-clock budget.

A gate is a run of two variants measured in blocks (harness.runs.order), with one rule deciding
after each block whether to measure another (`GateBlocks`, the run loop's `Blocks`):

- the second block tells how long a block takes (the first also verifies both variants and copies
  PostgreSQL), and so how many fit in what is left of the budget (set-up included: the clock
  starts with the command) — K blocks at most;
- the looks are planned then, before the first of them: after block MIN_PAIRS, …, K, at most
  LOOKS of them, each with its interval at 1 − α/looks (harness.reporting.change: the error of
  all looks together stays ≤ α);
- at each look the change of the gate's figure (CPU per request by default) is judged; a decided
  call (slower, faster, no change larger than X %) ends the run, and so does the budget, with the
  last look's call (undecided when it decided nothing);
- a variant that fails (start, verify, window) ends the gate at once: it could not run.

The outcome is recorded in run.json's `gate` section, look by look, and the command's exit code
is read from there: 0 no regression, 1 slower beyond the threshold, 2 could not run, 3 undecided.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.errors import OptionError
from harness.reporting import analysis
from harness.reporting.answer import Answer
from harness.reporting.change import (
    FIGURES,
    LOOKS,
    MIN_PAIRS,
    Call,
    Change,
    Figure,
    Rule,
    changes,
    paired_change,
    windows,
)
from harness.reporting.compare import moved
from harness.reporting.statements import endpoints_that_rose, read_statements_table
from harness.run_folder import load_run
from harness.runs.ladder import RunPlan
from harness.runs.plans import RunOptions

if TYPE_CHECKING:
    from harness.runs.ladder import Progress

# what the run does after its last block (tables, charts, both reports): kept out of the budget's last block
FINISH_S = 20.0
# a gate's blocks at most, whatever the budget: past this many pairs a change too small to call in
# them is below what a pull request's gate should wait for
MAX_BLOCKS = 30


class GateExit(IntEnum):
    """The gate's exit codes (docs/ci.md)."""
    PASS = 0  # faster, or no change larger than the threshold
    SLOWER = 1  # slower beyond the threshold, with the stated confidence
    COULD_NOT_RUN = 2  # bad input, a variant that would not start, verify or measure
    UNDECIDED = 3  # the budget ran out before the windows could tell


@dataclass
class GateBlocks:
    """The gate's rule as the run loop's Blocks (harness.runs.ladder)."""
    base: str
    candidate: str
    figure: Figure
    rule: Rule
    budget_s: float
    started: float  # time.monotonic() when the command started
    max_blocks: int = MAX_BLOCKS
    marks: list[float] = field(default_factory=list)
    looks_at: list[int] = field(default_factory=list)

    @property
    def expected(self) -> int:
        return self.looks_at[-1] if self.looks_at else MIN_PAIRS

    def another(self, run_dir: Path, measured: int, run: dict[str, Any]) -> bool:
        now = time.monotonic()
        self.marks.append(now)
        gate = run.setdefault("gate", self.record())
        if measured == 0:
            gate["setup_s"] = round(now - self.started, 1)
            return True
        per = analysis.measurements(run_dir)
        missing = [v for v in (self.base, self.candidate) if windows(per, v, self.figure).empty]
        if missing or _failed(per, measured):
            gate.update(call="could not run", decided_at=measured,
                        reason=f"{', '.join(missing) or 'a variant'} was not measured (see its line above)")
            return False
        # a block's time from the second on: the first also verifies both variants and copies the
        # server, so it would plan too few blocks
        block_s = float(np.median(np.diff(self.marks)[1:] if measured >= 2 else np.diff(self.marks)))
        left = self.budget_s - (now - self.started) - FINISH_S
        if measured == 1:
            return left >= block_s
        if measured == 2:  # the looks are planned before the first of them (at MIN_PAIRS)
            self.looks_at = planned_looks(min(self.max_blocks, 2 + max(0, math.floor(left / block_s))))
            gate.update(block_s=round(block_s, 1), looks_at=self.looks_at)
        last = measured >= self.looks_at[-1] or left < block_s
        if measured in self.looks_at or last:
            change = self.look(per, measured)
            gate["looks"].append(look_record(change, measured, round(now - self.started, 1)))
            if change.call.decided or last:
                gate.update(call=change.call.value, decided_at=measured,
                            reason="decided" if change.call.decided else "the budget ran out")
                return False
        return True

    def look(self, per: Any, measured: int) -> Change:
        rule = Rule(self.rule.threshold, self.rule.confidence, looks=len(self.looks_at))
        return paired_change(windows(per, self.base, self.figure), windows(per, self.candidate, self.figure),
                             self.figure, rule)

    def record(self) -> dict[str, Any]:
        return {"base": self.base, "candidate": self.candidate, "figure": self.figure.name,
                "threshold": self.rule.threshold, "confidence": self.rule.confidence, "budget_s": self.budget_s,
                "looks": []}


def _failed(per: Any, measured: int) -> bool:
    """A window of the last block that did not measure (the loop does not start a failed variant again)."""
    block = per[per["repeat"] == measured]
    return bool((block["status"] != "ok").any())


def planned_looks(blocks: int) -> list[int]:
    """After which blocks the gate looks, given that at most `blocks` fit: every block from
    MIN_PAIRS on, or LOOKS of them spread evenly when more fit; the last always."""
    top = max(blocks, MIN_PAIRS)
    if top - MIN_PAIRS + 1 <= LOOKS:
        return list(range(MIN_PAIRS, top + 1))
    return sorted({int(round(x)) for x in np.linspace(MIN_PAIRS, top, LOOKS)})


def look_record(change: Change, blocks: int, elapsed_s: float) -> dict[str, Any]:
    low, high = change.interval_pct
    return {"blocks": blocks, "elapsed_s": elapsed_s, "change_pct": round(change.change_pct, 2),
            "low_pct": round(low, 2), "high_pct": round(high, 2), "confidence": round(change.confidence, 4),
            "call": change.call.value}


@dataclass(frozen=True)
class GateOutcome:
    """What a gate run decided, read back from its results folder."""
    run_dir: Path
    call: str
    exit: GateExit
    changes: list[Change]  # every figure at the last look's confidence, the gate's figure first
    record: dict[str, Any]

    @property
    def gating(self) -> Change | None:
        return self.changes[0] if self.changes else None


def outcome(run_dir: Path) -> GateOutcome:
    """The gate's call and exit code from run.json's `gate` section (the run's own record), and
    the changes of every figure at the confidence of its last look."""
    run = load_run(run_dir)
    gate = run.get("gate") or {}
    call = str(gate.get("call") or "could not run")
    exit_code = {Call.SLOWER.value: GateExit.SLOWER, Call.FASTER.value: GateExit.PASS,
                 Call.WITHIN.value: GateExit.PASS, Call.UNDECIDED.value: GateExit.UNDECIDED,
                 Call.NOT_ENOUGH.value: GateExit.UNDECIDED}.get(call, GateExit.COULD_NOT_RUN)
    found: list[Change] = []
    if exit_code is not GateExit.COULD_NOT_RUN:
        per = analysis.measurements(run_dir)
        rule = Rule(float(gate["threshold"]), float(gate["confidence"]), looks=len(gate.get("looks_at") or [1]))
        found = changes(per, gate["base"], per, gate["candidate"], rule, paired=True)
        found.sort(key=lambda c: c.figure.name != gate["figure"])
    return GateOutcome(run_dir, call, exit_code, found, gate)


# a gate's window: short, since the gate adds windows until it can call, and every window pays a
# start, a sign-in and a warm-up; long enough that a window averages the host's speed flips
# (harness.measure.host_speed) over many seconds
GATE_WARMUP_S = 3.0
GATE_WINDOW_S = 15.0
# each variant's users in a side-by-side window: enough to keep one budget CPU busy with two services
# on it, few enough that their sign-in takes a second, not the window's length
GATE_USERS = 32


@dataclass(frozen=True)
class GateResult:
    run_dir: Path
    exit: GateExit
    answer: Answer


def gate_command(base: str, candidate: str, service: Path, budget_s: float, threshold: float, confidence: float,
                 figure: str, users: int | None, duration: float | None, warmup: float | None,
                 server_cpus: str | None, load_cpus: str | None, rtt_ms: float, idle_threshold: float,
                 idle_timeout: float, say: Callable[[str], None], progress: Progress,
                 planner: Callable[[RunOptions, Callable[[str], None]], RunPlan],
                 fail_on_more_statements: bool = False) -> GateResult:
    """`harness gate`: the options checked (one line for bad input), the gate run, its answer
    written to compare.md; the exit code from the run's record. `planner` makes the run's plan of
    the two refs (the service's: harness.service.plan.service_plan, which the caller chooses, so
    the runs floor does not reach up to the service's)."""
    started = time.monotonic()
    from harness.runs.ladder import run_all
    from harness.settings import HarnessSettings
    rule = Rule(threshold, confidence)  # checked before anything starts
    if figure not in FIGURES:
        raise OptionError(f"{{0}} {figure!r}: one of {', '.join(FIGURES)}", "figure")
    if budget_s < 60:
        raise OptionError("{0} must be at least 60 seconds", "budget")
    if base == candidate:
        raise OptionError("the base and the candidate are the same ref: nothing to compare", "variants")
    options = RunOptions(users=users or GATE_USERS, duration=duration if duration is not None else GATE_WINDOW_S,
                         warmup=warmup if warmup is not None else GATE_WARMUP_S, server_cpus=server_cpus,
                         load_cpus=load_cpus, idle_threshold=idle_threshold, idle_timeout=idle_timeout,
                         ceiling=False, rtt_ms=rtt_ms, same_traffic=False, service=service,
                         variants=[base, candidate])
    plan = planner(options, say)
    ids = [s.id for s in plan.stages]
    blocks = GateBlocks(ids[0], ids[1], FIGURES[figure], rule, budget_s, started)
    say(f"gate: {ids[1]} against {ids[0]} on {FIGURES[figure].label}, threshold ±{100 * threshold:g} %, "
        f"{confidence:.0%} confidence, within {budget_s:,.0f} s")
    run_dir = run_all(replace(plan, blocks=blocks, side_by_side=True), HarnessSettings(), progress)
    found = outcome(run_dir)
    why = moved(run_dir, ids[0], ids[1])
    exit_code = found.exit
    table = read_statements_table(run_dir)
    rose = endpoints_that_rose(table, ids[0], ids[1]) if table is not None else {}
    if fail_on_more_statements and rose and exit_code is not GateExit.COULD_NOT_RUN:
        exit_code = GateExit.SLOWER  # exact counts: a rise fails whatever the timings say
    answer = Answer(ids[0], ids[1], found.gating, found.changes[1:], why=why,
                    note="" if found.gating else str(found.record.get("reason", "")))
    (run_dir / "compare.md").write_text(answer.markdown())
    return GateResult(run_dir, exit_code, answer)
