"""Part 5: the multicast cover against the naive enumeration of combinations."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Sequence
from typing import Any

from jsonrest._cover import minimal_cover

from .harness import Table


def naive_cover(choices: Sequence[frozenset[Any]]) -> frozenset[Any]:
    """The original design: try every combination of one replica per key."""
    best: frozenset[Any] | None = None
    for combo in itertools.product(*choices):
        hosts = frozenset(combo)
        if best is None or len(hosts) < len(best):
            best = hosts
    return best or frozenset()


def placement(
    kind: str, hosts: int, replicas: int, keys: int, rng: random.Random
) -> list[frozenset[int]]:
    if kind == "ring":
        starts = [rng.randrange(hosts) for _ in range(keys)]
        return [frozenset((s + r) % hosts for r in range(replicas)) for s in starts]
    return [frozenset(rng.sample(range(hosts), replicas)) for _ in range(keys)]


def _time(choices: list[frozenset[int]], hosts: int, repeat: int) -> tuple[float, int]:
    priority = dict.fromkeys(range(hosts), 0)
    best = float("inf")
    size = 0
    for seed in range(repeat):
        start = time.perf_counter()
        size = len(minimal_cover(choices, priority, rng=random.Random(seed)))
        best = min(best, time.perf_counter() - start)
    return best * 1000, size


def measure(quick: bool) -> tuple[list[Table], dict[str, Any]]:
    rng = random.Random(42)
    key_counts = (
        [10, 100, 1_000, 10_000] if quick else [10, 100, 1_000, 10_000, 100_000]
    )
    host_counts = [10, 100, 1_000] if quick else [10, 30, 100, 300, 1_000]
    scaling = Table(
        "Cover time (ms, best of 3) and size against keys, 100 hosts",
        ["keys", "random R=2", "random R=3", "ring R=2", "ring R=3 (size / min)"],
    )
    series: dict[str, Any] = {"keys": key_counts}
    for kind, replicas in (("random", 2), ("random", 3), ("ring", 2), ("ring", 3)):
        series[f"{kind} R={replicas}"] = []
    for keys in key_counts:
        row: list[Any] = [keys]
        for kind, replicas in (("random", 2), ("random", 3), ("ring", 2), ("ring", 3)):
            ms, size = _time(placement(kind, 100, replicas, keys, rng), 100, 3)
            series[f"{kind} R={replicas}"].append(ms)
            label = f"{ms:.2f} ms, {size} hosts"
            if kind == "ring" and replicas == 3:
                label += f" (min ≤ {-(-100 // 3)})" if keys >= 1000 else ""
            row.append(label)
        scaling.rows.append(row)
    hosts_table = Table(
        "Cover against hosts, 10,000 keys, ring placements (size against the minimum)",
        [
            "hosts",
            "R=2 ms",
            "R=2 size / min",
            "R=3 ms",
            "R=3 size / min",
            "random R=3 ms",
        ],
    )
    for hosts in host_counts:
        row = [hosts]
        for replicas in (2, 3):
            ms, size = _time(placement("ring", hosts, replicas, 10_000, rng), hosts, 3)
            minimum = -(-hosts // replicas)
            row += [ms, f"{size} / {minimum} (+{(size / minimum - 1) * 100:.0f}%)"]
        ms, _ = _time(placement("random", hosts, 3, 10_000, rng), hosts, 3)
        row.append(ms)
        hosts_table.rows.append(row)
    hosts_table.notes.append(
        "The minimum of a ring is ceil(hosts / R) when every position holds keys. "
        "Exact search is used up to 20 candidate hosts; beyond, greedy plus a local "
        "search bounded by a 20 ms budget."
    )
    naive = Table(
        "Naive enumeration (every combination of replicas) against minimal_cover, "
        "64 hosts, 3 replicas, random placement",
        ["keys", "naive ms", "naive size", "minimal_cover ms", "minimal_cover size"],
    )
    limit = 4.0 if quick else 10.0
    for keys in range(4, 20):
        choices = placement("random", 64, 3, keys, rng)
        start = time.perf_counter()
        size = len(naive_cover(choices))
        naive_ms = (time.perf_counter() - start) * 1000
        ms, ours = _time(choices, 64, 3)
        naive.rows.append([keys, naive_ms, size, ms, ours])
        # Each key multiplies the work by 3: stop before a call would pass the limit.
        if naive_ms * 3 > limit * 1000:
            naive.notes.append(
                f"Stopped at {keys} keys: the next would take about "
                f"{naive_ms * 3 / 1000:.0f} s (limit {limit:.0f} s per call)."
            )
            break
    return [scaling, hosts_table, naive], series
