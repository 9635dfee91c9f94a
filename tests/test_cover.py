"""The minimal cover: properties against brute force, scale, rings, ties."""

from __future__ import annotations

import collections
import itertools
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jsonrest._cover import combine, minimal_cover

HOSTS = [f"h{i}" for i in range(10)]

instances = st.lists(
    st.frozensets(st.sampled_from(HOSTS), min_size=1, max_size=4),
    min_size=0,
    max_size=12,
)
priorities = st.fixed_dictionaries({h: st.integers(0, 3) for h in HOSTS})


def brute_force(choices: list[frozenset[str]], priority: dict[str, int]) -> tuple:
    """(size, combined priority) of the best cover, trying every subset."""
    hosts = sorted(set().union(*choices))
    for size in range(len(hosts) + 1):
        ranks = [
            combine(priority[h] for h in combo)
            for combo in itertools.combinations(hosts, size)
            if all(set(combo) & c for c in choices)
        ]
        if ranks:
            return size, min(ranks)
    raise AssertionError("unreachable")


@settings(max_examples=300, deadline=None, derandomize=True)
@given(instances, priorities, st.integers(0, 2**32))
def test_exact_on_small_instances(
    choices: list[frozenset[str]], priority: dict[str, int], seed: int
) -> None:
    cover = minimal_cover(choices, priority, rng=random.Random(seed))
    assert all(cover & c for c in choices)
    assert cover <= set().union(*choices)
    if choices:
        size, rank = brute_force(choices, priority)
        assert len(cover) == size
        assert combine(priority[h] for h in cover) == rank


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    st.lists(st.frozensets(st.integers(0, 59), min_size=1, max_size=3), max_size=80),
    st.integers(0, 2**32),
)
def test_heuristic_always_covers(choices: list[frozenset[int]], seed: int) -> None:
    priority = {h: h % 3 for h in range(60)}
    cover = minimal_cover(choices, priority, rng=random.Random(seed), exact_limit=5)
    assert all(cover & c for c in choices)
    assert cover <= set().union(*choices)


def ring(
    hosts: int, replicas: int, keys: int, rng: random.Random
) -> list[frozenset[int]]:
    starts = [rng.randrange(hosts) for _ in range(keys)]
    return [frozenset((s + r) % hosts for r in range(replicas)) for s in starts]


@pytest.mark.parametrize(
    ("hosts", "replicas", "most"),
    [(64, 3, 23), (100, 2, 52), (30, 3, 10), (300, 3, 105)],
)
def test_ring_placements_come_within_five_percent(
    hosts: int, replicas: int, most: int
) -> None:
    rng = random.Random(hosts)
    choices = ring(hosts, replicas, 10_000, rng)
    priority = dict.fromkeys(range(hosts), 0)
    for seed in range(3):
        # A budget this large never binds: the search stops when it stops
        # improving, so the result does not depend on the machine's load.
        cover = minimal_cover(choices, priority, rng=random.Random(seed), budget=10)
        assert all(cover & c for c in choices)
        assert len(cover) <= most


def test_ten_thousand_keys_on_a_hundred_hosts() -> None:
    rng = random.Random(7)
    choices = [frozenset(rng.sample(range(100), 3)) for _ in range(10_000)]
    priority = dict.fromkeys(range(100), 0)
    minimal_cover(choices, priority, rng=random.Random(1))
    start = time.perf_counter()
    cover = minimal_cover(choices, priority, rng=random.Random(2))
    assert time.perf_counter() - start < 0.25
    assert all(cover & c for c in choices)


def test_equal_priorities_spread_over_replicas() -> None:
    rng = random.Random(11)
    choices = [frozenset("abc")] * 3
    seen = collections.Counter(
        next(iter(minimal_cover(choices, dict.fromkeys("abc", 0), rng=rng)))
        for _ in range(300)
    )
    assert set(seen) == set("abc")
    assert min(seen.values()) >= 50


def test_priority_breaks_ties_but_size_comes_first() -> None:
    choices = [frozenset("ab"), frozenset("bc")]
    assert minimal_cover(choices, {"a": 0, "b": 5, "c": 0}) == {"b"}
    assert minimal_cover([frozenset("ab")], {"a": 1, "b": 0}) == {"b"}
    assert minimal_cover([frozenset("ab")], {"a": (0, 2), "b": (0, 1)}) == {"b"}


def test_edge_cases() -> None:
    assert minimal_cover([], {}) == frozenset()
    assert minimal_cover([{"a"}, {"a", "b"}], {"a": 0, "b": 0}) == {"a"}
    with pytest.raises(ValueError, match="no host"):
        minimal_cover([frozenset("a"), frozenset()], {"a": 0})


def test_combine_ranks_by_worst_member() -> None:
    assert combine([1, 3, 2]) == (3, 2, 1)
    assert combine([0, 2]) < combine([1, 3])
    assert combine([2, 0]) < combine([2, 1])
