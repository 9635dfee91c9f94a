"""The minimal cover: properties against brute force, scale, rings, ties."""

from __future__ import annotations

import collections
import itertools
import math
import random
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jsonrest._cover import combine, minimal_cover

HOSTS = [f"h{i}" for i in range(10)]

instances = st.lists(
    st.frozensets(st.sampled_from(HOSTS), min_size=1, max_size=10),
    max_size=12,
)
# Tuples like the library's own priorities, with plenty of ties.
priorities = st.fixed_dictionaries(
    {h: st.tuples(st.integers(0, 2), st.integers(0, 2)) for h in HOSTS}
)
seeds = st.integers(0, 2**32)


def brute_force(
    choices: list[frozenset[str]], priority: dict[str, Any]
) -> tuple[int, tuple[Any, ...]]:
    """(size, combined priority) of the best cover, trying every subset."""
    hosts = sorted(set().union(*choices))
    for size in range(len(hosts) + 1):
        ranks = [
            combine(priority[h] for h in combo)
            for combo in itertools.combinations(hosts, size)
            if all(c.intersection(combo) for c in choices)
        ]
        if ranks:
            return size, min(ranks)
    raise AssertionError("the set of all hosts is a cover")


def assert_cover(cover: frozenset[Any], choices: list[frozenset[Any]]) -> None:
    """`cover` hits every set, and only uses hosts the sets name."""
    assert all(cover & c for c in choices)
    assert cover <= frozenset().union(*choices)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(instances, priorities, seeds, st.sampled_from([20, 3, 0]))
def test_always_a_cover_of_named_hosts(
    choices: list[frozenset[str]],
    priority: dict[str, Any],
    seed: int,
    exact_limit: int,
) -> None:
    # `priority` names every host; only those in `choices` may be used.
    cover = minimal_cover(
        choices, priority, rng=random.Random(seed), exact_limit=exact_limit
    )
    assert_cover(cover, choices)
    # Whatever the method, no host is redundant.
    for host in cover:
        assert not all((cover - {host}) & c for c in choices)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(instances, priorities, seeds)
def test_exact_matches_brute_force(
    choices: list[frozenset[str]], priority: dict[str, Any], seed: int
) -> None:
    cover = minimal_cover(choices, priority, rng=random.Random(seed))
    assert_cover(cover, choices)
    if choices:
        size, rank = brute_force(choices, priority)
        assert len(cover) == size
        assert combine(priority[h] for h in cover) == rank


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    st.lists(st.frozensets(st.integers(0, 59), min_size=1, max_size=4), max_size=80),
    seeds,
)
def test_heuristic_covers_larger_instances(
    choices: list[frozenset[int]], seed: int
) -> None:
    priority = {h: h % 3 for h in range(60)}
    cover = minimal_cover(choices, priority, rng=random.Random(seed), exact_limit=5)
    assert_cover(cover, choices)


def ring(hosts: int, replicas: int, keys: int, seed: int) -> list[frozenset[str]]:
    """Keys on `replicas` consecutive hosts of a ring, from random positions.

    Host names are shuffled so that no ordering of names follows the ring.
    """
    rng = random.Random(seed)
    names = [f"host{i}" for i in range(hosts)]
    rng.shuffle(names)
    starts = [rng.randrange(hosts) for _ in range(keys)]
    return [frozenset(names[(s + r) % hosts] for r in range(replicas)) for s in starts]


@pytest.mark.parametrize(
    ("hosts", "replicas", "most"),
    [(64, 3, 23), (100, 2, 52), (100, 3, 35), (1000, 3, 350), (1000, 2, 525)],
)
def test_rings_come_within_five_percent(hosts: int, replicas: int, most: int) -> None:
    # With 10,000 keys every position holds keys: the minimum is ceil(H / R).
    assert most <= math.ceil(hosts / replicas) * 1.05
    choices = ring(hosts, replicas, 10_000, seed=hosts + replicas)
    priority = {h: 0 for c in choices for h in c}
    for seed in range(3):
        cover = minimal_cover(choices, priority, rng=random.Random(seed))
        assert_cover(cover, choices)
        assert len(cover) <= most


def test_ten_thousand_keys_on_a_hundred_hosts_is_fast() -> None:
    rng = random.Random(7)
    choices = [frozenset(rng.sample(range(100), 3)) for _ in range(10_000)]
    priority = dict.fromkeys(range(100), 0)
    minimal_cover(choices, priority, rng=random.Random(1))  # warm-up
    # CPU time, not wall time: other processes sharing the cores (parallel
    # test workers) must not make the cover look slow.
    start = time.process_time()
    cover = minimal_cover(choices, priority, rng=random.Random(2))
    assert time.process_time() - start < 0.25
    assert_cover(cover, choices)


def test_twenty_hosts_are_solved_exactly_and_fast() -> None:
    rng = random.Random(3)
    choices = [frozenset(rng.sample(range(20), 3)) for _ in range(5_000)]
    priority = {h: (h % 2, h) for h in range(20)}
    minimal_cover(choices, priority, rng=random.Random(1))  # warm-up
    start = time.process_time()
    cover = minimal_cover(choices, priority, rng=random.Random(2))
    assert time.process_time() - start < 0.25
    assert_cover(cover, choices)
    # No cover is smaller, and none of the same size ranks better.
    masks = {sum(1 << h for h in c) for c in choices}

    def covers(hosts: tuple[int, ...]) -> bool:
        mask = sum(1 << h for h in hosts)
        return all(m & mask for m in masks)

    assert not any(map(covers, itertools.combinations(range(20), len(cover) - 1)))
    rank = combine(priority[h] for h in cover)
    for other in itertools.combinations(range(20), len(cover)):
        if covers(other):
            assert rank <= combine(priority[h] for h in other)


def test_equal_priorities_spread_over_replicas() -> None:
    rng = random.Random(11)
    choices = [frozenset("abc")] * 3
    priority = dict.fromkeys("abc", 0)
    seen = collections.Counter(
        host for _ in range(300) for host in minimal_cover(choices, priority, rng=rng)
    )
    assert sum(seen.values()) == 300  # one host each time
    assert set(seen) == set("abc")
    assert min(seen.values()) >= 50


def test_equal_covers_spread_too() -> None:
    # Two keys, two disjoint pairs of replicas: four covers of two hosts.
    rng = random.Random(5)
    choices = [frozenset("ab"), frozenset("cd")]
    priority = dict.fromkeys("abcd", 0)
    seen = collections.Counter(
        minimal_cover(choices, priority, rng=rng) for _ in range(400)
    )
    assert len(seen) == 4
    assert min(seen.values()) >= 50


def test_priority_breaks_ties_but_size_comes_first() -> None:
    # Size first: one host of the worst priority beats two of the best.
    choices = [frozenset("ab"), frozenset("bc")]
    assert minimal_cover(choices, {"a": 0, "b": 5, "c": 0}) == {"b"}
    # Equal sizes: the better priority wins, whatever its type.
    assert minimal_cover([frozenset("ab")], {"a": 1, "b": 0}) == {"b"}
    assert minimal_cover([frozenset("ab")], {"a": (0, 2), "b": (0, 1)}) == {"b"}
    assert minimal_cover([frozenset("ab")], {"a": (1, 0.5), "b": (0, 99.0)}) == {"b"}
    # Equal sizes, the worst member decides: {b, c} beats {a, d}.
    choices = [frozenset("ab"), frozenset("cd"), frozenset("ac"), frozenset("bd")]
    priority = {"a": (0, 1), "b": (0, 2), "c": (0, 2), "d": (0, 3)}
    for seed in range(20):
        cover = minimal_cover(choices, priority, rng=random.Random(seed))
        assert cover == {"b", "c"}


def test_priority_is_preferred_beyond_the_exact_range() -> None:
    # A ring of 40 hosts, keys on neighbours: the even hosts and the odd ones
    # are the two covers of 20; the heuristic takes the better ones.
    choices = [frozenset({i, (i + 1) % 40}) for i in range(40)]
    priority = {i: i % 2 for i in range(40)}
    for seed in range(5):
        cover = minimal_cover(choices, priority, rng=random.Random(seed), exact_limit=0)
        assert cover == set(range(0, 40, 2))


def test_edge_cases() -> None:
    assert minimal_cover([], {}) == frozenset()
    assert minimal_cover([{"a"}, {"a", "b"}], {"a": 0, "b": 0}) == {"a"}
    assert minimal_cover([["a", "b"], ("b",)], {"a": 0, "b": 0}) == {"b"}
    with pytest.raises(ValueError, match="no host"):
        minimal_cover([frozenset("a"), frozenset()], {"a": 0})
    with pytest.raises(ValueError, match="no host"):
        minimal_cover([()], {})


def test_combine_ranks_by_worst_member() -> None:
    assert combine([1, 3, 2]) == (3, 2, 1)
    assert combine([]) == ()
    assert combine([0, 2]) < combine([1, 3])
    assert combine([2, 0]) < combine([2, 1])
    assert combine([(0, 1), (1, 0)]) == ((1, 0), (0, 1))
