"""The minimal cover: the fewest hosts that together hold every requested key.

A multicast over sharded keys must reach, for each key, one of the hosts that
hold it. Choosing the fewest such hosts is the hitting set problem, NP-hard in
general, so the work is split in three:

1. Reduce. Keys with the same hosts collapse into one set; a set that contains
   another is dropped (whatever hits the smaller one hits it); a set of one
   host forces that host; a host is dropped when another host, as good or
   better, is in every set it is in. Repeat until nothing changes.
2. Split what is left into independent groups (no set spans two of them).
3. Solve each group exactly, by branch and bound over bitmasks, when it has
   at most `exact_limit` hosts. A larger group starts from the better of two
   constructions, greedy (the host in most open sets first) and a walk that
   packs its picks side by side (rings and other chains of hosts), then a
   local search adds outside hosts that free two or more cover hosts, and
   swaps one for one where that brings a later gain closer.

Covers of equal size are ranked by `combine` of their members' priorities.
Whatever tie is left is settled by the caller's random generator, which
shuffles hosts of equal priority before anything else looks at them.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

__all__ = ["combine", "minimal_cover"]

H = TypeVar("H", bound=Hashable)

#: A set of hosts as the indices of its members.
Members = tuple[int, ...]

#: The generator used when the caller passes none.
_rng = random.Random()
#: Past this many subsets to look up, a set looks for a smaller set inside it
#: by scanning the kept sets whose lowest host is one of its own instead.
_SUBSETS_LISTED = 64
#: A guard on local search rounds per phase: the search stops on its own long
#: before, as every move strictly improves a bounded measure.
_ROUNDS = 100


def combine(priorities: Iterable[Any]) -> tuple[Any, ...]:
    """Combined priority of a set of hosts: its members' priorities, worst first.

    The priorities are sorted worst (largest) first, as a tuple, so comparing
    two combined values prefers the set whose worst member is better, then
    whose second worst is, and so on.
    """
    return tuple(sorted(priorities, reverse=True))


def minimal_cover(
    choices: Iterable[Collection[H]],
    priority: Mapping[H, Any],
    *,
    rng: random.Random | None = None,
    exact_limit: int = 20,
) -> frozenset[H]:
    """The fewest hosts such that every collection in `choices` holds one.

    `priority` ranks every host that appears in `choices` (lower is better,
    compared with `<` and `==` only). Among covers of the same size the best
    `combine` wins, then `rng` decides (a module-wide generator by default),
    so that equal replicas share the load. The result is a true minimum when
    at most `exact_limit` hosts remain to decide after the reductions (per
    group of hosts that share no key); beyond, it is greedy's cover or
    better. Raises `ValueError` for an empty collection.
    """
    rng = _rng if rng is None else rng
    unique = dict.fromkeys(map(frozenset, choices))
    if not unique:
        return frozenset()
    if frozenset() in unique:
        raise ValueError("a key has no host to choose from")
    hosts: set[H] = set()
    hosts.update(*unique)
    # Shuffled, then sorted stably: an index orders hosts by priority, and at
    # random among equals, which is every later tie-break.
    names = list(hosts)
    rng.shuffle(names)
    names.sort(key=priority.__getitem__)
    rank = [0] * len(names)
    for i in range(1, len(names)):
        worse = priority[names[i - 1]] < priority[names[i]]
        rank[i] = rank[i - 1] + 1 if worse else rank[i - 1]
    index = {name: i for i, name in enumerate(names)}
    sets = [tuple(map(index.__getitem__, members)) for members in unique]
    return frozenset(names[i] for i in _solve(sets, rank, rng, exact_limit))


def _solve(
    sets: list[Members], rank: list[int], rng: random.Random, exact_limit: int
) -> list[int]:
    """A cover of `sets`, as host indices ordered by `rank`; see `minimal_cover`.

    Groups of sets that share no host are solved apart: a best cover of each
    makes a best cover of all, for size and for `combine` alike.
    """
    cover, problem = _reduce(sets, rank)
    if not problem.rows:
        return cover
    greedy = problem.greedy()
    if len(problem.hosts) <= exact_limit:
        groups = [(list(range(len(problem.rows))), problem.hosts)]
    else:
        groups = problem.groups()
    rest: list[int] = []
    for group, hosts in groups:
        if len(hosts) <= exact_limit:
            members = [problem.members[j] for j in group]
            cover += _exact_group(members, sorted(hosts), greedy, rank)
        else:
            rest += group
    if rest:
        if len(rest) < len(problem.rows):
            table = {problem.rows[j]: problem.members[j] for j in rest}
            problem = _Problem(table, len(rank))
            greedy = problem.greedy()
        cover += problem.heuristic(greedy, rank, rng)
    return cover


# Reductions ------------------------------------------------------------------


def _reduce(sets: list[Members], rank: list[int]) -> tuple[list[int], _Problem]:
    """The hosts some set forces, and what is left to decide.

    Each step keeps a best cover within reach: a forced host is in every
    cover; a superset is hit by whatever hits its subset; a dropped host can be
    swapped for its dominator without making a cover larger or its combined
    priority worse.
    """
    bits = [1 << h for h in range(len(rank))]
    table = {sum(map(bits.__getitem__, members)): members for members in sets}
    forced: list[int] = []
    while True:
        single = {members[0] for members in table.values() if len(members) == 1}
        if single:
            forced += single
            hit = sum(map(bits.__getitem__, single))
            table = {row: members for row, members in table.items() if not row & hit}
        table = _drop_supersets(table, bits)
        problem = _Problem(table, len(rank))
        dominated = problem.dominated(rank)
        if not dominated:
            return forced, problem
        gone = sum(map(bits.__getitem__, dominated))
        stripped: dict[int, Members] = {}
        for row, members in table.items():
            if row & gone:
                row &= ~gone
                members = tuple(h for h in members if not bits[h] & gone)
            stripped[row] = members
        table = stripped


def _drop_supersets(table: dict[int, Members], bits: list[int]) -> dict[int, Members]:
    """`table` without the sets that contain another of its sets."""
    if len(set(map(len, table.values()))) < 2:
        return table  # sets of one size cannot contain each other
    by_size: dict[int, list[tuple[int, Members]]] = {}
    for row, members in table.items():
        by_size.setdefault(len(members), []).append((row, members))
    kept: dict[int, Members] = {}
    sizes: list[int] = []  # the sizes in `kept`
    under: dict[int, list[int]] = {}  # kept sets by their lowest host
    for k in sorted(by_size):
        # Look a set's subsets of the kept sizes up while they are few; past
        # that, scan the kept sets whose lowest host is one of its hosts.
        drops = [k - size for size in sizes]
        listed = sum(math.comb(k, d) for d in drops) <= _SUBSETS_LISTED
        survivors = []
        for row, members in by_size[k]:
            if listed:
                inside = any(s in kept for s in _subsets(row, members, drops, bits))
            else:
                inside = any(
                    not other & ~row
                    for h in members
                    for other in under.get(bits[h], ())
                )
            if not inside:
                survivors.append((row, members))
        for row, members in survivors:
            kept[row] = members
            under.setdefault(row & -row, []).append(row)
        if survivors:
            sizes.append(k)
    return kept


def _subsets(
    row: int, members: Members, drops: list[int], bits: list[int]
) -> Iterator[int]:
    """The subsets of a set (`row`, `members`) with `d` members fewer, for
    each `d` in `drops`, as bitmasks."""
    for d in drops:
        if d == 1:  # the common case (some host down), kept cheap
            yield from (row ^ bits[h] for h in members)
        else:
            for gone in itertools.combinations(members, d):
                yield row - sum(map(bits.__getitem__, gone))


class _Problem:
    """A reduced instance: sets as host bitmasks (`rows`) and as `members`."""

    def __init__(self, table: dict[int, Members], size: int) -> None:
        self.rows = list(table)
        self.members = list(table.values())
        self.sets_of: list[list[int]] = [[] for _ in range(size)]
        for j, members in enumerate(self.members):
            for h in members:
                self.sets_of[h].append(j)
        self.hosts = [h for h, found in enumerate(self.sets_of) if found]

    def dominated(self, rank: list[int]) -> list[int]:
        """Hosts that another host, in every set they are in, makes redundant.

        `g` dominates `h` when every set holding `h` holds `g` and `g` is the
        better choice: a lower index (better or equal priority), or equal
        priority and strictly more sets. The relation is transitive and has no
        cycles, so all dominated hosts can go at once.
        """
        rows, sets_of = self.rows, self.sets_of
        dropped = []
        for h in self.hosts:
            found = sets_of[h]
            own = 1 << h
            common = -1
            for j in found:
                common &= rows[j]
                if common == own:
                    break
            common ^= own
            while common:
                low = common & -common
                common ^= low
                g = low.bit_length() - 1
                if g < h or (rank[g] == rank[h] and len(sets_of[g]) > len(found)):
                    dropped.append(h)
                    break
        return dropped

    def groups(self) -> list[tuple[list[int], list[int]]]:
        """The sets split into groups that share no host, with their hosts."""
        members, sets_of = self.members, self.sets_of
        seen = bytearray(len(sets_of))
        done = bytearray(len(members))
        groups: list[tuple[list[int], list[int]]] = []
        for start in self.hosts:
            if seen[start]:
                continue
            seen[start] = 1
            queue = [start]
            group = []
            for h in queue:  # grows as it goes: a breadth-first search
                if not groups and len(queue) == len(self.hosts):
                    # One group holds every host, hence every set: stop early.
                    return [(list(range(len(members))), self.hosts)]
                for j in sets_of[h]:
                    if not done[j]:
                        done[j] = 1
                        group.append(j)
                        for g in members[j]:
                            if not seen[g]:
                                seen[g] = 1
                                queue.append(g)
            groups.append((group, queue))
        return groups

    # Constructions -----------------------------------------------------------

    def greedy(self) -> list[int]:
        """Take the host in most uncovered sets (lowest index on ties) until done."""
        members, sets_of = self.members, self.sets_of
        gain = [len(found) for found in sets_of]
        heap = [(-gain[h], h) for h in self.hosts]
        heapq.heapify(heap)
        covered = bytearray(len(members))
        cover = []
        while heap:
            count, h = heapq.heappop(heap)
            if -count != gain[h]:  # stale: counts only fall, so re-file it
                if gain[h]:
                    heapq.heappush(heap, (-gain[h], h))
                continue
            cover.append(h)
            for j in sets_of[h]:
                if not covered[j]:
                    covered[j] = 1
                    for g in members[j]:
                        gain[g] -= 1
        return cover

    def sweep(self, rng: random.Random) -> list[int] | None:
        """Cover the sets met on a depth-first walk from a random host.

        None where such a walk has no direction to follow. Greedy scatters its
        picks over structures such as rings, where every host is as good as
        another at first, and the gaps left between picks waste hosts. A walk
        moves one front along the structure and packs its picks side by side:
        at each host, the open set with the most covered member (the one at
        the front) goes first and takes its member in most open sets. Where
        one host's sets already reach a third of the hosts, the walk's order
        is arbitrary and it would only repeat greedy, worse.
        """
        members, rows, sets_of = self.members, self.rows, self.sets_of
        first = rng.randrange(len(self.hosts))
        reach = 0
        for j in sets_of[self.hosts[first]]:
            reach |= rows[j]
        if 3 * reach.bit_count() > len(self.hosts):
            return None
        gain = [len(found) for found in sets_of]
        covered = bytearray(len(members))
        seen = bytearray(len(sets_of))
        cover = []

        def weakest(j: int) -> int:
            return min(map(gain.__getitem__, members[j]))

        for start in self.hosts[first:] + self.hosts[:first]:
            if seen[start]:
                continue
            seen[start] = 1
            stack = [start]
            while stack:
                h = stack.pop()
                while True:
                    # Picks change what is weakest: choose again after each.
                    open_sets = [j for j in sets_of[h] if not covered[j]]
                    if not open_sets:
                        break
                    j = min(open_sets, key=weakest)
                    pick = max(members[j], key=lambda g: (gain[g], -g))
                    cover.append(pick)
                    for k in sets_of[pick]:
                        if not covered[k]:
                            covered[k] = 1
                            for g in members[k]:
                                gain[g] -= 1
                for j in sets_of[h]:
                    for g in members[j]:
                        if not seen[g]:
                            seen[g] = 1
                            stack.append(g)
        return cover

    def heuristic(
        self, greedy: list[int], rank: list[int], rng: random.Random
    ) -> list[int]:
        """The better construction, improved by local search."""
        # Walks from other hosts end differently; keep walking while it pays.
        start = greedy
        sweep = self.sweep(rng)
        while sweep is not None and len(sweep) < len(start):
            start = sweep
            sweep = self.sweep(rng)
        search = _Search(self, start, rank, rng)
        search.run()
        return search.cover()


# Exact -----------------------------------------------------------------------


def _exact_group(
    sets: list[Members], hosts: list[int], greedy: list[int], rank: list[int]
) -> list[int]:
    """The best cover of one group of sets over `hosts` (ascending), exactly.

    `greedy` holds a cover of the group, the bound to beat.
    """
    local = {h: i for i, h in enumerate(hosts)}
    # Integer weights that order covers as (size, combine) do: with base above
    # the number of hosts, a sum of base**rank counts hosts per rank without
    # carries, and `big` outweighs any such sum.
    levels = sorted({rank[h] for h in hosts})
    level = {r: i for i, r in enumerate(levels)}
    base = len(hosts) + 1
    big = base ** len(levels)
    weight = [big + base ** level[rank[h]] for h in hosts]
    start = [local[h] for h in greedy if h in local]
    best = _exact(
        [tuple(map(local.__getitem__, members)) for members in sets],
        weight,
        sum(1 << i for i in start),
        sum(weight[i] for i in start),
    )
    return [hosts[i] for i in range(len(hosts)) if best >> i & 1]


def _exact(sets: list[Members], weight: list[int], best: int, best_weight: int) -> int:
    """The lightest cover of `sets` as a bitmask of hosts, by branch and bound.

    `best` is a known cover of `best_weight` to beat; only a strictly lighter
    one replaces it. Hosts are indexed by weight, lightest first. The search
    holds the uncovered sets as a bitmask over sets, so each step is a few
    integer operations per host however many sets there are.
    """
    # Small sets first: they give the tightest bound and the fewest branches.
    sets = sorted(sets, key=len)
    m = len(sets)
    rows = [sum(1 << h for h in members) for members in sets]
    digits = [bytearray(b"0") * m for _ in weight]
    for j, members in enumerate(sets):
        for h in members:
            digits[h][m - 1 - j] = 49  # "1"
    cols = [int(d, 2) for d in digits]  # the sets each host is in

    def search(uncovered: int, allowed: int, chosen: int, total: int) -> None:
        nonlocal best, best_weight
        if not uncovered:
            if total < best_weight:
                best, best_weight = chosen, total
            return
        # Per uncovered set, whether it has one allowed host left, or two.
        once = twice = 0
        rest = allowed
        while rest:
            low = rest & -rest
            rest ^= low
            col = cols[low.bit_length() - 1]
            twice |= once & col
            once |= col
        if uncovered & ~once:
            return  # some set has no host left
        forced = uncovered & ~twice
        # Lower bound: sets that share no allowed host each need a host of
        # their own, at least their lightest. Forced sets go first: their host
        # is certain, and packing them first leaves the most room for others.
        bound = total
        left = uncovered
        for pool in (forced, uncovered):
            pool &= left
            while pool:
                hosts = rows[(pool & -pool).bit_length() - 1] & allowed
                bound += weight[(hosts & -hosts).bit_length() - 1]
                if bound >= best_weight:
                    return
                while hosts:
                    low = hosts & -hosts
                    hosts ^= low
                    left &= ~cols[low.bit_length() - 1]
                pool &= left
        # Branch on a forced set if any, else on the first one (among the
        # smallest): take each of its hosts in turn, and rule it out for the
        # branches after it, so that no cover is reached twice.
        pick = forced or uncovered
        hosts = rows[(pick & -pick).bit_length() - 1] & allowed
        while hosts:
            low = hosts & -hosts
            hosts ^= low
            allowed ^= low
            h = low.bit_length() - 1
            search(uncovered & ~cols[h], allowed, chosen | low, total + weight[h])

    search((1 << m) - 1, (1 << len(weight)) - 1, 0, 0)
    return best


# Local search ----------------------------------------------------------------


class _Search:
    """A cover under improvement, with how many cover hosts hit each set.

    A move adds an outside host `c`. A cover host is freed by it when every
    set only that host hits contains `c`. Freeing two or more shrinks the
    cover; freeing one is a swap of equal size, taken when it concentrates
    the sets held by a single host on fewer hosts (the sum of squares of
    their counts grows), which brings other hosts closer to being freed, or
    when it improves the priority at no such cost. A last phase takes every
    swap that improves the priority. Each move strictly improves a bounded
    measure, so each phase ends.
    """

    def __init__(
        self, problem: _Problem, cover: list[int], rank: list[int], rng: random.Random
    ) -> None:
        self.problem = problem
        self.rank = rank
        self.rng = rng
        sets_of = problem.sets_of
        self.chosen = bytearray(len(sets_of))
        self.hits = [0] * len(problem.rows)
        # The XOR of the cover hosts in each set: the one cover host when
        # there is one, the other when one of two is known.
        self.xor = [0] * len(problem.rows)
        for h in cover:
            self.chosen[h] = 1
            for j in sets_of[h]:
                self.hits[j] += 1
                self.xor[j] ^= h
        self.sole = [0] * len(sets_of)  # how many sets only this cover host hits
        for j, count in enumerate(self.hits):
            if count == 1:
                self.sole[self.xor[j]] += 1
        # Worst index first, so that of two redundant hosts the better stays.
        self.prune(sorted(cover, reverse=True))

    def cover(self) -> list[int]:
        """The current cover."""
        return [h for h in self.problem.hosts if self.chosen[h]]

    def add(self, h: int) -> None:
        """Put `h` in the cover."""
        hits, xor, sole = self.hits, self.xor, self.sole
        for j in self.problem.sets_of[h]:
            count = hits[j]
            if count == 0:
                sole[h] += 1
            elif count == 1:
                sole[xor[j]] -= 1
            hits[j] = count + 1
            xor[j] ^= h
        self.chosen[h] = 1

    def remove(self, h: int) -> None:
        """Take `h` out of the cover."""
        hits, xor, sole = self.hits, self.xor, self.sole
        for j in self.problem.sets_of[h]:
            count = hits[j]
            xor[j] ^= h
            if count == 2:
                sole[xor[j]] += 1
            hits[j] = count - 1
        sole[h] = 0
        self.chosen[h] = 0

    def prune(self, hosts: Iterable[int]) -> int:
        """Drop those of `hosts` no set needs, in order; how many went."""
        dropped = 0
        for h in hosts:
            if self.chosen[h] and not self.sole[h]:
                self.remove(h)
                dropped += 1
        return dropped

    def gain(self, c: int, b: int, counts: dict[int, int]) -> int:
        """How much swapping cover host `b` for `c` raises the squared sole counts.

        `counts` has, per cover host, how many of its sole sets `c` is in.
        """
        hits, xor, sole, members = self.hits, self.xor, self.sole, self.problem.members
        change = {h: -n for h, n in counts.items() if h != b}
        for j in self.problem.sets_of[b]:
            if hits[j] == 2 and c not in members[j]:
                h = xor[j] ^ b  # the other cover host, left alone in the set
                change[h] = change.get(h, 0) + 1
        return sum((sole[h] + n) ** 2 - sole[h] ** 2 for h, n in change.items())

    def round(self, accept: Callable[[int, int, int], bool]) -> bool:
        """Try each outside host once; whether anything changed."""
        problem, rank = self.problem, self.rank
        hits, xor, sole, sets_of = self.hits, self.xor, self.sole, problem.sets_of
        outside = [h for h in problem.hosts if not self.chosen[h]]
        self.rng.shuffle(outside)
        moved = False
        for c in outside:
            counts: dict[int, int] = {}
            for j in sets_of[c]:
                if hits[j] == 1:
                    b = xor[j]
                    counts[b] = counts.get(b, 0) + 1
            freed = [b for b, n in counts.items() if n == sole[b]]
            if not freed:
                continue
            if len(freed) > 1:
                self.add(c)
                if self.prune(sorted(freed, key=rank.__getitem__, reverse=True)) > 1:
                    moved = True
                    continue
                # Two freed hosts that share a set cannot both go: not a gain.
                self.remove(c)
                for b in freed:
                    if not self.chosen[b]:
                        self.add(b)
                continue
            b = freed[0]
            if accept(self.gain(c, b, counts), c, b):
                self.add(c)
                self.remove(b)
                moved = True
        return moved

    def run(self) -> None:
        """Improve the size, then the priority, each until no move helps."""
        rank = self.rank

        def concentrate(gain: int, c: int, b: int) -> bool:
            return gain > 0 or (gain == 0 and rank[c] < rank[b])

        def prefer(gain: int, c: int, b: int) -> bool:
            return rank[c] < rank[b]

        hosts = self.problem.hosts
        phases = [concentrate]
        if rank[hosts[0]] != rank[hosts[-1]]:  # else no swap can be preferred
            phases.append(prefer)
        for accept in phases:
            for _ in range(_ROUNDS):
                if not self.round(accept):
                    break
