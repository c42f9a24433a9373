"""Is B slower than A, and how sure are we: the ratio B/A of one figure with its confidence
interval, and the call a pull request can be gated on.

The method, and why it suits the windows of a load test:
- **Paired windows.** A run with repeats measures its variants in blocks, each variant once per
  block, in a balanced random order (harness.runs.order). The two windows of a block are minutes
  apart at most, so what drifts on a shared host (its speed, a neighbour) falls on both alike;
  each block gives one log ratio d = log(B/A), and the drift between blocks leaves the d's alone.
  Abedi & Brecht (ICPE 2017) showed A-then-B on a cloud machine calling 38 % between identical
  systems, and randomized interleaved trials removing it; pairing is what makes interleaving pay.
- **A t interval on the mean log ratio** (Student, n − 1 degrees of freedom), as pyperf's compare
  and Kalibera & Jones (ISMM 2013: the ratio with its interval, repeats sized from a first
  experiment) do. A window averages thousands of requests, so its figure is near normal and so is
  a difference of two logs; an outlier window widens the interval (a later call, not a false one).
  asv and benchstat use Mann-Whitney instead: distribution-free, but it needs 6+ samples per side
  before any interval at 95 % exists, and it ignores the pairing. With two runs that do not share
  blocks (`harness compare RUN_A RUN_B`) the windows are not paired: Welch's interval on the
  difference of the mean logs.
- **The host's speed taken out.** CPU per request on the budget moves with the speed of the host's
  CPU (harness.measure.host_speed); each window's figure is scaled by its watcher's reading,
  relative to that variant's own median reading, so the scaling removes a block's difference in
  speed without moving a variant's level (the watcher shares the CPU with the variant, and how
  much each variant cools its caches for it differs).
- **Looking again after every block** would make some interval miss by chance sooner or later:
  the gate spends its error over a fixed number of looks (Bonferroni: each look's interval at
  1 − α/LOOKS), so the chance that *any* look calls a change that is not there stays ≤ α.
- **The call** (`Call`): *slower* / *faster* when the interval excludes no change and the
  estimate is beyond the threshold (a change that is real and large enough to matter); *no change
  larger than X %* when the whole interval lies within ± the threshold (X: the farthest end of the
  interval, the smallest change these windows could have seen); *undecided* otherwise; *not enough
  data* below MIN_PAIRS windows on a side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd
from scipy import stats

from harness.errors import OptionError


class Call(StrEnum):
    SLOWER = "slower"
    FASTER = "faster"
    WITHIN = "no change larger than"
    UNDECIDED = "undecided"
    NOT_ENOUGH = "not enough data"

    @property
    def decided(self) -> bool:
        return self in (Call.SLOWER, Call.FASTER, Call.WITHIN)


@dataclass(frozen=True)
class Figure:
    """A figure a change is judged on: its column in measurements.csv, whether higher is better,
    and whether the host's speed scales it (a CPU-time figure does, a latency in a closed loop
    follows throughput and is left as measured)."""
    name: str
    column: str
    higher_is_better: bool
    speed_scaled: bool
    label: str


CPU = Figure("cpu", "cpu_s_per_1k", False, True, "CPU per request")
THROUGHPUT = Figure("rps", "rps", True, True, "throughput")
P95 = Figure("p95", "p95_ms", False, False, "p95")
FIGURES = {f.name: f for f in (CPU, THROUGHPUT, P95)}

# the fewest windows per side an interval is drawn from (two pairs leave one degree of freedom:
# a t quantile of 13 at 99 %, an interval no change can fit in)
MIN_PAIRS = 3
# the gate's looks: at most this many, from MIN_PAIRS blocks on (the last one when the budget ends);
# each spends alpha / LOOKS. Fewer looks, a narrower interval at each: with five, the first at three
# pairs still calls an N+1 within two minutes, and the last keeps most of the width of a single look
LOOKS = 5


@dataclass(frozen=True)
class Rule:
    """What calls a change: the smallest change worth a call (0.03: 3 %), the confidence the whole
    sequence of looks holds (0.95), over how many looks it is spent."""
    threshold: float = 0.03
    confidence: float = 0.95
    looks: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise OptionError("{0} must be between 0 and 1 (0.03: 3 %)", "threshold")
        if not 0.5 <= self.confidence < 1:
            raise OptionError("{0} must be in [0.5, 1) (0.95: 95 %)", "confidence")

    @property
    def per_look(self) -> float:
        """Each look's confidence: the error split evenly over the looks (Bonferroni)."""
        return 1 - (1 - self.confidence) / max(1, self.looks)


@dataclass(frozen=True)
class Change:
    """B/A of one figure over n windows per side: the estimate, its interval, and the call. A ratio
    above 1 is more of the figure (slower for CPU and p95, faster for throughput)."""
    figure: Figure
    n: int
    paired: bool
    ratio: float
    low: float
    high: float
    confidence: float  # of this interval (a look's, when the gate looks several times)
    call: Call
    threshold: float
    looks: int = 1  # how many looks the interval's confidence was split over (the gate's)

    @property
    def overall_confidence(self) -> float:
        """The confidence of every look together: ≥ this that no look's interval missed."""
        return 1 - (1 - self.confidence) * self.looks

    def confidence_said(self) -> str:
        """'95 % confidence', or '95 % confidence over 7 looks (99.3 % each)'."""
        said = f"{100 * self.overall_confidence:.3g} % confidence"
        return said + (f" over {self.looks} looks ({100 * self.confidence:.3g} % each)" if self.looks > 1 else "")

    @property
    def change_pct(self) -> float:
        """The figure's change B/A in %: +5.0 costs 5 % more CPU; -4.8 serves 4.8 % fewer requests/s."""
        return 100 * (self.ratio - 1)

    @property
    def interval_pct(self) -> tuple[float, float]:
        """The interval as changes in %, low to high."""
        return 100 * (self.low - 1), 100 * (self.high - 1)

    @property
    def detectable_pct(self) -> float:
        """The smallest change these windows could have told from none: the interval's far end."""
        low, high = self.interval_pct
        return max(abs(low), abs(high))

    @property
    def regressed(self) -> bool:
        return self.call is Call.SLOWER

    def sentence(self) -> str:
        """'CPU per request +5.1 % [+2.8, +7.4] (95 %, 8 pairs): slower'."""
        if self.call is Call.NOT_ENOUGH:
            seen = f" {self.change_pct:+.1f} %" if self.ratio == self.ratio else ""
            return (f"{self.figure.label}{seen} on {self.n} window(s) per side: not enough data to call a change "
                    f"(a call needs {MIN_PAIRS} per side)")
        low, high = self.interval_pct
        windows = f"{self.n} pairs" if self.paired else f"{self.n} windows per side"
        said = f"{self.figure.label} {self.change_pct:+.1f} % [{low:+.1f}, {high:+.1f}] " \
               f"({self.confidence_said()}, {windows})"
        if self.call is Call.WITHIN:
            return f"{said}: no change larger than {math.ceil(self.detectable_pct * 10) / 10:.1f} %"
        if self.call is Call.UNDECIDED:
            return (f"{said}: undecided (the interval reaches past ±{100 * self.threshold:g} % and does not "
                    f"exclude no change, or the change is below it)")
        return f"{said}: {self.call.value}"


def judged(values: pd.Series, speeds: pd.Series | None, figure: Figure) -> pd.Series:
    """Each window's figure, scaled by its host speed relative to the variant's median speed
    (see the module's docstring) where the figure moves with the host's speed."""
    values = values.astype(float)
    if not figure.speed_scaled or speeds is None:
        return values
    speeds = speeds.astype(float)
    if speeds.isna().any() or (speeds <= 0).any():
        return values  # not watched in some window: as measured
    relative = speeds / speeds.median()
    # CPU time per request shrinks as the host speeds up (×speed puts it back); throughput grows (÷speed)
    return values / relative if figure.higher_is_better else values * relative


def _call(estimate: float, low: float, high: float, figure: Figure, threshold: float) -> Call:
    def worse_ratio(r: float) -> float:  # above 1: B is worse
        return 1 / r if figure.higher_is_better else r
    est, lo, hi = worse_ratio(estimate), *sorted((worse_ratio(low), worse_ratio(high)))
    if lo > 1 and est - 1 >= threshold:
        return Call.SLOWER
    if hi < 1 and 1 - est >= threshold:
        return Call.FASTER
    if 1 - threshold < lo and hi < 1 + threshold:
        return Call.WITHIN
    return Call.UNDECIDED


def paired_change(a: pd.Series, b: pd.Series, figure: Figure, rule: Rule) -> Change:
    """B/A from windows paired by block (the same index on both sides; the others are left out)."""
    both = pd.concat({"a": a, "b": b}, axis=1).dropna()
    both = both[(both["a"] > 0) & (both["b"] > 0)]
    n = len(both)
    confidence = rule.per_look
    d = np.log(both["b"].to_numpy()) - np.log(both["a"].to_numpy())
    if n < MIN_PAIRS:
        return _not_enough(figure, n, True, confidence, rule, float(d.mean()) if n else float("nan"))
    mean, se = float(d.mean()), float(d.std(ddof=1) / math.sqrt(n))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * se
    return _change(figure, n, True, mean, half, confidence, rule)


def unpaired_change(a: pd.Series, b: pd.Series, figure: Figure, rule: Rule) -> Change:
    """B/A from two sets of windows not measured in shared blocks: Welch's interval on the logs."""
    la = np.log(a.dropna().astype(float)[lambda s: s > 0].to_numpy())
    lb = np.log(b.dropna().astype(float)[lambda s: s > 0].to_numpy())
    n = min(len(la), len(lb))
    confidence = rule.per_look
    if n < MIN_PAIRS:
        return _not_enough(figure, n, False, confidence, rule,
                           float(lb.mean() - la.mean()) if n else float("nan"))
    va, vb = la.var(ddof=1) / len(la), lb.var(ddof=1) / len(lb)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / ((va**2 / (len(la) - 1)) + (vb**2 / (len(lb) - 1))) if se > 0 else len(la) + len(lb) - 2
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return _change(figure, n, False, float(lb.mean() - la.mean()), half, confidence, rule)


def _change(figure: Figure, n: int, paired: bool, mean: float, half: float, confidence: float,
            rule: Rule) -> Change:
    ratio, low, high = math.exp(mean), math.exp(mean - half), math.exp(mean + half)
    return Change(figure, n, paired, ratio, low, high, confidence, _call(ratio, low, high, figure, rule.threshold),
                  rule.threshold, max(1, rule.looks))


def _not_enough(figure: Figure, n: int, paired: bool, confidence: float, rule: Rule, log_ratio: float) -> Change:
    """Too few windows for an interval: the estimate alone (the windows' log ratio, NaN with none)."""
    nan = float("nan")
    return Change(figure, n, paired, math.exp(log_ratio), nan, nan, confidence, Call.NOT_ENOUGH, rule.threshold,
                  max(1, rule.looks))


def windows(per: pd.DataFrame, stage: str, figure: Figure) -> pd.Series:
    """One variant's measured windows of `figure` (measurements.csv's rows), by repeat, judged."""
    rows = per[(per["stage"] == stage) & (per["status"] == "ok")].set_index("repeat")
    speeds = rows.get("host_speed")
    return judged(rows[figure.column], speeds, figure)


def changes(per_a: pd.DataFrame, stage_a: str, per_b: pd.DataFrame, stage_b: str, rule: Rule,
            paired: bool) -> list[Change]:
    """B/A of every figure the gate reads, CPU per request first."""
    judge = paired_change if paired else unpaired_change
    return [judge(windows(per_a, stage_a, f), windows(per_b, stage_b, f), f, rule) for f in FIGURES.values()]
