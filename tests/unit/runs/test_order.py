from collections import Counter

from harness.runs.order import BlockOrder


def test_two_variants_go_first_equally_often_in_a_random_balanced_order() -> None:
    orders = [BlockOrder("AB", seed).block for seed in range(50)]
    sequences = [[tuple(order(k)) for k in range(1, 13)] for order in orders]
    for blocks in sequences:
        assert blocks[0] == ("A", "B") and blocks[1] == ("B", "A")  # the plan's order first
        firsts = Counter(b[0] for b in blocks)
        assert firsts["A"] == firsts["B"] == 6
        assert all(set(blocks[k]) != set() and blocks[k] != blocks[k + 1] for k in range(2, 12, 2))
    assert len({tuple(s) for s in sequences}) > 10  # random: the seeds give different sequences


def test_more_variants_are_shuffled_each_block() -> None:
    order = BlockOrder("ABC", 7)
    blocks = [tuple(order.block(k)) for k in range(1, 9)]
    assert blocks[0] == ("A", "B", "C") and all(sorted(b) == ["A", "B", "C"] for b in blocks)
    assert len(set(blocks)) > 2
