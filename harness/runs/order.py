"""The order a run's variants are measured in, block by block: each block measures every variant
once, and the order within a block is random but balanced, so that what drifts on a shared host
falls on every variant alike and no variant always goes first (Abedi & Brecht, ICPE 2017:
randomized multiple interleaved trials).

For two variants the blocks come in couples, one A B and one B A in a random order of the two:
over any even number of blocks each goes first equally often. For more, each block is a random
permutation. The first block keeps the plan's order: its first variant is verified first and is
the reference the others' answers are compared with.
"""

import random
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class BlockOrder(Generic[T]):
    """The blocks' orders of one run, from a seed it records."""

    def __init__(self, items: Sequence[T], seed: int) -> None:
        self.items, self.rng = list(items), random.Random(seed)
        self._pending: list[T] | None = None

    def block(self, number: int) -> list[T]:
        """The order of block `number` (1, 2, …), asked for in turn."""
        items = self.items
        if number == 1 or len(items) < 2:
            return items[:]
        if len(items) > 2:
            shuffled = items[:]
            self.rng.shuffle(shuffled)
            return shuffled
        if number == 2:  # block 1 was A B
            return items[::-1]
        if self._pending is not None:  # the second of a couple
            second, self._pending = self._pending, None
            return second
        first, second = self.rng.sample([items, items[::-1]], 2)
        self._pending = second
        return first
