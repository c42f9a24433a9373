"""The answer first: what a reviewer reads before anything else about B against A — the call with
its confidence, then what moved it. One set of lines for the terminal, compare.md (ready for a
pull request or a CI job's summary), the compare page and a service run's report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.reporting.change import Call, Change

# the lines before any table: the call, then at most this many of what moved it
WHY_LINES = 4


@dataclass(frozen=True)
class Answer:
    """B against A, said in a few lines: `headline` (the call) and `why` (what moved it)."""
    base: str
    candidate: str
    gating: Change | None
    others: Sequence[Change] = ()
    why: Sequence[str] = field(default_factory=list)
    note: str = ""  # why nothing could be called (a generator-bound row, a variant not measured)
    stages: int = 0  # a ladder's compare: how many stages the note counts by call

    @property
    def call(self) -> str:
        return self.gating.call.value if self.gating else "could not run"

    def headline(self) -> str:
        if self.stages:
            return f"**{self.candidate} against {self.base}, {self.stages} stages: {self.note}**"
        if self.gating is None:
            return f"**{self.candidate} against {self.base}: could not compare** — {self.note}"
        c = self.gating
        if c.call is Call.NOT_ENOUGH:
            return (f"**{self.candidate} against {self.base}: cannot call a change** — {c.sentence()}; "
                    "measure with repeats (run-all --repeat N, or harness gate)")
        verdict = {Call.SLOWER: "SLOWER", Call.FASTER: "faster", Call.UNDECIDED: "undecided",
                   Call.WITHIN: f"no change larger than {_ceil1(c.detectable_pct):.1f} %"}[c.call]
        low, high = c.interval_pct
        return (f"**{self.candidate} against {self.base}: {verdict}** — {c.figure.label} {c.change_pct:+.1f} % "
                f"[{low:+.1f}, {high:+.1f}] at {c.confidence_said()} "
                f"({c.n} {'pairs of windows' if c.paired else 'windows per side'}, threshold "
                f"±{100 * c.threshold:g} %)" + (f"; {self.note}" if self.note else ""))

    def lines(self) -> list[str]:
        """At most 1 + WHY_LINES lines: the headline, then what moved it."""
        also = "; ".join(f"{c.figure.label} {c.change_pct:+.1f} % [{c.interval_pct[0]:+.1f}, "
                         f"{c.interval_pct[1]:+.1f}]" for c in self.others if c.call is not Call.NOT_ENOUGH)
        why = [*self.why, *([f"also: {also}"] if also else [])]
        return [self.headline(), *(f"- {w}" for w in why[:WHY_LINES])]

    def markdown(self) -> str:
        return "\n".join(self.lines()) + "\n"


def _ceil1(value: float) -> float:
    return int(value * 10 + 0.999999) / 10
