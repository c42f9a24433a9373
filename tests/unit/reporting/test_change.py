"""The change's interval and its call, on windows whose truth is known."""

import numpy as np
import pandas as pd
import pytest

from harness.errors import OptionError
from harness.reporting.change import CPU, THROUGHPUT, Call, Rule, judged, paired_change, unpaired_change


def _pairs(ratio: float, noise: float, n: int, seed: int = 1) -> tuple[pd.Series, pd.Series]:
    """n blocks drifting by ±20 % together, B = ratio × A with lognormal noise of sd `noise`."""
    rng = np.random.default_rng(seed)
    drift = np.exp(rng.normal(0, 0.2, n))
    a = 5.0 * drift * np.exp(rng.normal(0, noise, n))
    b = 5.0 * ratio * drift * np.exp(rng.normal(0, noise, n))
    index = pd.RangeIndex(1, n + 1)
    return pd.Series(a, index=index), pd.Series(b, index=index)


def test_a_five_percent_rise_in_cpu_is_slower_with_its_interval_around_it() -> None:
    a, b = _pairs(1.05, 0.01, 10)
    change = paired_change(a, b, CPU, Rule(threshold=0.03))
    assert change.call is Call.SLOWER and change.regressed
    low, high = change.interval_pct
    assert low < 5 < high and high - low < 4
    assert change.change_pct == pytest.approx(5, abs=1.5)


def test_pairing_takes_out_the_drift_that_hides_a_change_from_unpaired_windows() -> None:
    a, b = _pairs(1.05, 0.01, 10)
    assert paired_change(a, b, CPU, Rule()).call is Call.SLOWER
    assert unpaired_change(a, b, CPU, Rule()).call is Call.UNDECIDED  # the ±20 % drift swamps 5 %


def test_identical_variants_are_no_change_larger_than_the_interval() -> None:
    a, b = _pairs(1.0, 0.01, 12)
    change = paired_change(a, b, CPU, Rule(threshold=0.03))
    assert change.call is Call.WITHIN and not change.regressed
    assert change.detectable_pct < 3


def test_a_significant_change_below_the_threshold_is_not_called() -> None:
    a, b = _pairs(1.01, 0.002, 12)
    change = paired_change(a, b, CPU, Rule(threshold=0.03))
    assert change.interval_pct[0] > 0  # real, but 1 % is below the 3 % worth a call
    assert change.call is Call.WITHIN


def test_throughput_is_slower_when_it_falls_and_its_percentages_say_worse_as_plus() -> None:
    a, b = _pairs(1 / 1.05, 0.01, 10)
    change = paired_change(a, b, THROUGHPUT, Rule())
    assert change.call is Call.SLOWER and change.change_pct == pytest.approx(100 * (1 / 1.05 - 1), abs=1.5)


def test_fewer_than_three_windows_a_side_calls_nothing() -> None:
    a, b = _pairs(2.0, 0.01, 2)
    change = paired_change(a, b, CPU, Rule())
    assert change.call is Call.NOT_ENOUGH and "not enough data" in change.sentence()
    assert unpaired_change(a.iloc[:1], b, CPU, Rule()).call is Call.NOT_ENOUGH


def test_more_looks_widen_each_look_s_interval() -> None:
    a, b = _pairs(1.03, 0.02, 8)
    one, eight = paired_change(a, b, CPU, Rule(looks=1)), paired_change(a, b, CPU, Rule(looks=8))
    assert eight.confidence == pytest.approx(1 - 0.05 / 8)
    assert (eight.high - eight.low) > (one.high - one.low)


def test_the_host_speed_scales_cpu_within_a_variant_not_its_level() -> None:
    cpu = pd.Series([4.0, 5.0, 4.0])  # the middle window ran on a host 25 % slower
    speeds = pd.Series([100.0, 80.0, 100.0])
    assert judged(cpu, speeds, CPU).tolist() == pytest.approx([4.0, 4.0, 4.0])
    assert judged(cpu, speeds.where(speeds > 90), CPU).tolist() == cpu.tolist()  # not watched: as measured


@pytest.mark.parametrize("threshold, confidence", [(0.0, 0.95), (1.5, 0.95), (0.03, 1.0), (0.03, 0.2)])
def test_a_rule_out_of_range_is_refused(threshold: float, confidence: float) -> None:
    with pytest.raises(OptionError):
        Rule(threshold, confidence)


def test_identical_variants_are_rarely_called_over_many_looks() -> None:
    """The gate's sequence of looks (3..10 blocks) on A/A windows: Bonferroni keeps false calls rare."""
    false_calls = 0
    for seed in range(200):
        a, b = _pairs(1.0, 0.03, 10, seed)
        looks = [paired_change(a.iloc[:n], b.iloc[:n], CPU, Rule(threshold=0.03, looks=8)) for n in range(3, 11)]
        false_calls += any(c.call in (Call.SLOWER, Call.FASTER) for c in looks)
    assert false_calls <= 200 * 0.05
