"""The minimal cover: the fewest hosts that together hold every requested key.

Set cover is NP-hard, so the search is exact only where it is cheap: after
deduplicating the keys' host sets and taking the hosts a key leaves no choice
about, a branch and bound over bitmasks finds a true minimum when at most
`exact_limit` hosts remain. Beyond that, greedy, then removing redundant hosts,
then a local search that replaces two hosts by one (and walks plateaus of
one-for-one swaps) within a small time budget. Covers of equal size are ranked
by `combine` of their members' priorities, then chosen at random.
"""

from __future__ import annotations

import random
import time
from collections.abc import Collection, Hashable, Iterable, Mapping
from typing import Any, TypeVar

__all__ = ["combine", "minimal_cover"]

H = TypeVar("H", bound=Hashable)

_rng = random.Random()
#: Nodes the exact search may visit before settling for the best cover found.
_NODE_BUDGET = 200_000


def combine(priorities: Iterable[Any]) -> tuple[Any, ...]:
    """The combined priority of a set of hosts: its members' priorities, worst
    (largest) first, as a tuple.

    Comparing two such tuples prefers the set whose worst member is better,
    then whose second worst is, and so on.
    """
    return tuple(sorted(priorities, reverse=True))


def minimal_cover(
    choices: Iterable[Collection[H]],
    priority: Mapping[H, Any],
    *,
    rng: random.Random | None = None,
    exact_limit: int = 20,
    budget: float = 0.02,
) -> frozenset[H]:
    """The fewest hosts such that every collection in `choices` holds one.

    `priority` ranks every host that appears (lower is better): among covers
    of equal size the best `combine` wins, then chance. Exact when at most
    `exact_limit` hosts are left to decide; otherwise at least as good as
    greedy, improved by local search for at most `budget` seconds.
    Raises `ValueError` for an empty collection.
    """
    rng = rng or _rng
    unique = dict.fromkeys(
        choice if isinstance(choice, frozenset) else frozenset(choice)
        for choice in choices
    )
    if frozenset() in unique:
        raise ValueError("a key has no host to choose from")
    if not unique:
        return frozenset()
    # Index hosts best priority first, shuffled first so equals come in random order.
    names = list(frozenset().union(*unique))
    rng.shuffle(names)
    names.sort(key=priority.__getitem__)
    index = {name: i for i, name in enumerate(names)}
    sets = [frozenset(map(index.__getitem__, hosts)) for hosts in unique]
    forced = {next(iter(s)) for s in sets if len(s) == 1}
    sets = [s for s in sets if forced.isdisjoint(s)]
    chosen: set[int] = set(forced)
    if sets:
        problem = _Problem(sets, [priority[name] for name in names])
        if len(problem.hosts) <= exact_limit:
            chosen |= problem.exact()
        else:
            chosen |= problem.heuristic(rng, budget)
    return frozenset(names[i] for i in chosen)


class _Problem:
    """One set cover instance: `sets` of host indices, `weights` per host index."""

    def __init__(self, sets: list[frozenset[int]], weights: list[Any]) -> None:
        sets.sort(key=len)  # the most constrained sets first
        self.sets = sets
        self.weights = weights
        members: dict[int, list[int]] = {h: [] for h in frozenset().union(*sets)}
        for j, hosts in enumerate(sets):
            for h in hosts:
                members[h].append(j)
        self.members = members  # host -> indices of the sets it is in
        self.hosts = sorted(members)

    def rank(self, cover: Iterable[int]) -> tuple[int, tuple[Any, ...]]:
        """How good a cover is: fewer hosts, then the better combined priority."""
        values = [self.weights[h] for h in cover]
        return len(values), combine(values)

    # Exact ---------------------------------------------------------------

    def exact(self, node_budget: int = _NODE_BUDGET) -> set[int]:
        """A minimum cover, best combined priority among minima, by branch and bound.

        Past `node_budget` nodes it returns the best cover found so far.
        """
        sets = self.sets
        full = (1 << len(sets)) - 1
        reach = {}
        for h, found in self.members.items():
            bits = 0
            for j in found:
                bits |= 1 << j
            reach[h] = bits
        options = [sorted(s) for s in sets]  # best priority first
        best = self.greedy()
        best_rank = self.rank(best)
        nodes = 0

        def search(covered: int, picked: list[int]) -> None:
            nonlocal best, best_rank, nodes
            nodes += 1
            if covered == full:
                rank = self.rank(picked)
                if rank < best_rank:
                    best, best_rank = set(picked), rank
                return
            if len(picked) + 1 > best_rank[0] or nodes > node_budget:
                return
            open_sets = full & ~covered
            first = (open_sets & -open_sets).bit_length() - 1
            for h in options[first]:
                picked.append(h)
                search(covered | reach[h], picked)
                picked.pop()

        search(0, [])
        return best

    # Heuristic -------------------------------------------------------------

    def greedy(self) -> set[int]:
        """Take the host in most uncovered sets (best priority on ties) until done."""
        sets, members = self.sets, self.members
        count = {h: len(found) for h, found in members.items()}
        covered = bytearray(len(sets))
        left = len(sets)
        cover: set[int] = set()
        while left:
            # Lowest index wins ties: the best priority, random among equals.
            pick = max(count, key=lambda h: (count[h], -h))
            cover.add(pick)
            for j in members[pick]:
                if not covered[j]:
                    covered[j] = 1
                    left -= 1
                    for h in sets[j]:
                        count[h] -= 1
            del count[pick]
        return cover

    def heuristic(self, rng: random.Random, budget: float) -> set[int]:
        """Greedy, pruned, then improved by local search within `budget` seconds."""
        search = _LocalSearch(self, self.greedy(), rng)
        search.run(time.perf_counter() + budget)
        return search.best


class _LocalSearch:
    """Improves a cover by adding one outside host and dropping those it frees.

    Adding host `c` frees every cover host whose uniquely held sets all
    contain `c`: freeing two or more shrinks the cover; freeing exactly one is
    a swap of equal size, taken at random to walk plateaus when nothing
    shrinks (never straight back to the host just dropped).
    """

    def __init__(self, problem: _Problem, cover: set[int], rng: random.Random) -> None:
        self.problem = problem
        self.rng = rng
        self.cover = set(cover)
        # How many cover hosts each set holds.
        self.hits = [len(s & cover) for s in problem.sets]
        self.prune()
        self.best = set(self.cover)
        self.best_rank = problem.rank(self.best)

    def add(self, h: int) -> None:
        self.cover.add(h)
        for j in self.problem.members[h]:
            self.hits[j] += 1

    def remove(self, h: int) -> None:
        self.cover.discard(h)
        for j in self.problem.members[h]:
            self.hits[j] -= 1

    def prune(self, hosts: Iterable[int] | None = None) -> None:
        """Drop each host whose sets another cover host also holds, worst first."""
        hits, members = self.hits, self.problem.members
        for h in sorted(self.cover if hosts is None else hosts, reverse=True):
            if all(hits[j] > 1 for j in members[h]):
                self.remove(h)

    def owner(self, j: int) -> int:
        """The cover host of a set that only one cover host holds."""
        cover = self.cover
        return next(h for h in self.problem.sets[j] if h in cover)

    def sole_counts(self) -> dict[int, int]:
        """For each cover host, how many sets it alone holds."""
        hits, members = self.hits, self.problem.members
        return {a: list(map(hits.__getitem__, members[a])).count(1) for a in self.cover}

    def sweep(self, tabu: int | None) -> tuple[bool, list[tuple[int, int]]]:
        """Try every outside host once; return (shrunk, equal-size swaps seen)."""
        problem, hits = self.problem, self.hits
        outside = [h for h in problem.hosts if h not in self.cover and h != tabu]
        self.rng.shuffle(outside)
        sole = self.sole_counts()
        shrunk = False
        swaps = []
        for c in outside:
            counts: dict[int, int] = {}
            for j in problem.members[c]:
                if hits[j] == 1:
                    a = self.owner(j)
                    counts[a] = counts.get(a, 0) + 1
            freed = [a for a, n in counts.items() if n == sole[a]]
            if len(freed) >= 2:
                size = len(self.cover)
                self.add(c)
                self.prune(freed)
                if len(self.cover) < size:
                    shrunk = True
                    sole = self.sole_counts()
                else:  # the freed hosts shared sets only each other held
                    self.remove(c)
                    for a in set(freed) - self.cover:
                        self.add(a)
            elif freed:
                swaps.append((c, freed[0]))
        return shrunk, swaps

    def run(self, deadline: float) -> None:
        """Improve until no move helps (after a bounded plateau walk) or time is up."""
        stale = 0
        limit = len(self.cover) // 2 + 8
        tabu = None
        while stale < limit and time.perf_counter() < deadline:
            shrunk, swaps = self.sweep(tabu)
            if not shrunk and swaps:
                c, a = self.rng.choice(swaps)
                self.add(c)
                self.remove(a)
                tabu = a
            rank = self.problem.rank(self.cover)
            if rank < self.best_rank:
                self.best, self.best_rank = set(self.cover), rank
                stale = 0
            else:
                stale += 1
            if not shrunk and not swaps:
                break
