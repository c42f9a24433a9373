import random
from collections import Counter

from harness.mix import SAAS_WEIGHTS, Schedule


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
