import random
from collections import Counter

from harness.load.mix import SAAS_WEIGHTS, Schedule, due_offset


def test_every_round_is_the_exact_weighted_mix() -> None:
    schedule = Schedule(random.Random(7))
    size = sum(SAAS_WEIGHTS.values())
    assert len(schedule) == size
    for _ in range(5):
        assert Counter(schedule.next() for _ in range(size)) == Counter(SAAS_WEIGHTS)


def test_a_user_repeats_its_sequence_and_users_differ() -> None:
    def first(seed: int, n: int = 60) -> list[str]:
        schedule = Schedule(random.Random(seed))
        return [schedule.next() for _ in range(n)]

    assert first(3) == first(3)
    assert first(3) != first(4)
    # shuffled within a round, not a fixed cycle
    assert first(3)[:27] != first(3)[27:54]


def test_the_schedule_without_a_ramp_is_evenly_spaced() -> None:
    assert [due_offset(i, 50.0) for i in range(4)] == [0.0, 0.02, 0.04, 0.06]


def test_the_ramp_climbs_linearly_then_holds_the_rate() -> None:
    rate, ramp = 100.0, 6.0
    offsets = [due_offset(i, rate, ramp) for i in range(2_000)]
    assert offsets == sorted(offsets)
    # the cumulative count during the ramp is rate·t²/(2·ramp): 75 requests in the first 3 s, 300 in 6 s
    assert sum(t < 3.0 for t in offsets) == 75
    assert sum(t < ramp for t in offsets) == 300
    # the rate in the second half of the ramp is three times the first half's
    assert sum(3.0 <= t < 6.0 for t in offsets) == 3 * 75
    # after the ramp: exactly the rate, one request every 1/rate
    after = [t for t in offsets if t >= ramp]
    gaps = {round(b - a, 9) for a, b in zip(after, after[1:], strict=False)}
    assert gaps == {round(1 / rate, 9)}
    assert sum(ramp <= t < ramp + 10 for t in offsets) == 1_000
