"""Part 5: the multicast cover against the naive enumeration of combinations."""

from __future__ import annotations

import gc
import itertools
import random
import time
from collections.abc import Sequence
from typing import Any

from jsonrest._cover import minimal_cover

from .harness import Summary, Table

COMBOS = (("random", 2), ("random", 3), ("ring", 2), ("ring", 3))


class TooSlow(Exception):
    """The naive enumeration passed its time limit."""


def naive_cover(choices: Sequence[frozenset[Any]], limit: float) -> frozenset[Any]:
    """The original design: try every combination of one replica per key and
    keep the smallest union. Streams the combinations (memory stays flat);
    raises `TooSlow` once it has run `limit` seconds."""
    deadline = time.perf_counter() + limit
    best: frozenset[Any] | None = None
    for i, combo in enumerate(itertools.product(*choices)):
        hosts = frozenset(combo)
        if best is None or len(hosts) < len(best):
            best = hosts
        if not i & 0xFFFF and time.perf_counter() > deadline:
            raise TooSlow
    return best or frozenset()


def placement(
    kind: str, hosts: int, replicas: int, keys: int, rng: random.Random
) -> list[frozenset[int]]:
    """Each key's hosts: `replicas` consecutive hosts of a ring from a random
    start ("ring"), or `replicas` distinct hosts at random ("random")."""
    if kind == "ring":
        starts = [rng.randrange(hosts) for _ in range(keys)]
        return [frozenset((s + r) % hosts for r in range(replicas)) for s in starts]
    return [frozenset(rng.sample(range(hosts), replicas)) for _ in range(keys)]


def ring_minimum(
    choices: list[frozenset[int]], hosts: int, replicas: int
) -> int | None:
    """ceil(hosts / replicas) when every ring position starts a key (then every
    window of `replicas` consecutive hosts must hold a cover host), else None."""
    if len(set(choices)) < hosts:
        return None
    return -(-hosts // replicas)


def timed_cover(
    choices: list[frozenset[int]], hosts: int, repeat: int, **options: Any
) -> tuple[Summary, list[int]]:
    """ms per minimal_cover call over `repeat` seeds, and each cover's size."""
    priority = dict.fromkeys(range(hosts), 0)
    times, sizes = [], []
    for seed in range(repeat):
        # A collection of the benchmark's own garbage must not land in a call.
        gc.collect()
        start = time.perf_counter()
        cover = minimal_cover(choices, priority, rng=random.Random(seed), **options)
        times.append((time.perf_counter() - start) * 1000)
        sizes.append(len(cover))
    return Summary(times), sizes


def _size_label(sizes: list[int], minimum: int | None) -> str:
    size = sorted(sizes)[len(sizes) // 2]
    label = (
        f"{size}" if min(sizes) == max(sizes) else f"{size} ({min(sizes)}–{max(sizes)})"
    )
    if minimum is not None:
        label += f" / {minimum}"
    return label


def scaling(
    host_counts: list[int], key_counts: list[int], repeat: int
) -> tuple[list[Table], dict[str, Any]]:
    """Time and size against keys, one table per host count."""
    rng = random.Random(42)
    tables = []
    series: dict[str, Any] = {"keys": key_counts}
    for hosts in host_counts:
        table = Table(
            f"{hosts} hosts: ms per cover (median of {repeat} seeds) and hosts in it",
            ["keys", *(f"{kind} R={r}" for kind, r in COMBOS)],
        )
        for keys in key_counts:
            row: list[Any] = [f"{keys:,}"]
            for kind, replicas in COMBOS:
                choices = placement(kind, hosts, replicas, keys, rng)
                summary, sizes = timed_cover(choices, hosts, repeat)
                minimum = (
                    ring_minimum(choices, hosts, replicas) if kind == "ring" else None
                )
                row.append(f"{summary.median:.2f} ms, {_size_label(sizes, minimum)}")
                series.setdefault(f"{hosts} hosts, {kind} R={replicas}", []).append(
                    summary.median
                )
            table.rows.append(row)
        tables.append(table)
    tables[-1].notes.append(
        "Size: hosts in the cover (range over seeds when they differ) / the minimum, "
        "where known: ceil(hosts / R) for a ring whose every position starts a key. "
        "minimal_cover is exact when at most 20 hosts are left to decide (per "
        "independent group, after its reductions); beyond, greedy or better, "
        "improved by a local search. Target: 10,000 keys on 100 hosts under 20 ms."
    )
    return tables, series


def naive(
    hosts: int, limit: float, repeat: int, replica_counts: Sequence[int] = (2, 3)
) -> tuple[Table, dict[str, Any]]:
    """The naive enumeration against minimal_cover, growing keys while a naive
    call stays under `limit` seconds."""
    rng = random.Random(3)
    table = Table(
        f"Naive enumeration (every combination of one replica per key) against "
        f"minimal_cover, {hosts} hosts, random placement",
        [
            "R",
            "keys",
            "combinations",
            "naive ms",
            "naive size",
            "minimal_cover ms",
            "minimal_cover size",
        ],
    )
    series: dict[str, Any] = {}
    for replicas in replica_counts:
        xs, naive_ms, ours_ms = [], [], []
        for keys in range(2, 64):
            choices = placement("random", hosts, replicas, keys, rng)
            start = time.perf_counter()
            try:
                size: Any = len(naive_cover(choices, limit))
                elapsed = (time.perf_counter() - start) * 1000
            except TooSlow:
                elapsed, size = float("nan"), f"over {limit:.0f} s: stopped"
            summary, sizes = timed_cover(choices, hosts, repeat)
            table.rows.append(
                [
                    replicas,
                    keys,
                    f"{replicas**keys:,}",
                    elapsed,
                    size,
                    summary.median,
                    _size_label(sizes, None),
                ]
            )
            xs.append(keys)
            naive_ms.append(elapsed)
            ours_ms.append(summary.median)
            # Each key multiplies the work by R: stop before a call would pass
            # the limit (and on the call that did).
            if elapsed != elapsed or elapsed * replicas > limit * 1000:
                table.notes.append(
                    f"R={replicas}: stopped at {keys} keys; the next would take about "
                    f"{(elapsed if elapsed == elapsed else limit * 1000) * replicas / 1000:.0f} s "
                    f"(limit {limit:.0f} s per call)."
                )
                break
        series[f"naive R={replicas}"] = (xs, naive_ms)
        series[f"minimal_cover R={replicas}"] = (xs, ours_ms)
    table.notes.append(
        "The enumeration streams its combinations, so memory stays flat; the "
        "original design built them all and ran out of memory first."
    )
    return table, series
