"""Part 4: the cost of choosing a host."""

from __future__ import annotations

import timeit
from typing import Any

import jsonrest

from .harness import Summary, Table


class _Custom(jsonrest.Resources):
    """A subclass steering traffic with its own priority()."""

    def priority(self, host: str) -> object:
        return len(host)


def _us(cluster: jsonrest.Resources, hosts: list[str], number: int) -> Summary:
    times = timeit.repeat(lambda: cluster.choice(hosts), number=number, repeat=7)
    return Summary([t / number * 1e6 for t in times])


def measure(sizes: list[int], number: int) -> tuple[Table, dict[str, Any]]:
    """µs per choice() call at each size: all up, 10% down, custom priority."""
    table = Table(
        f"choice() cost, µs per call (median of 7 rounds of {number:,} calls; "
        "spread in brackets)",
        ["hosts", "all up", "10% down", "overridden priority()"],
    )
    series: dict[str, Any] = {
        "N": list(sizes),
        "all up": [],
        "10% down": [],
        "override": [],
    }
    for n in sizes:
        hosts = [f"h{i}.example:80" for i in range(n)]
        with jsonrest.Resources(hosts) as cluster, _Custom(hosts) as custom:
            up = _us(cluster, hosts, number)
            for host in hosts[: max(1, n // 10)]:
                cluster.health.failed(host)
            down = _us(cluster, hosts, number)
            over = _us(custom, hosts, number)
        table.rows.append(
            [n, *(f"{s.median:.2f} ({s.spread})" for s in (up, down, over))]
        )
        series["all up"].append(up.median)
        series["10% down"].append(down.median)
        series["override"].append(over.median)
    table.notes.append(
        "Target: under 50 µs at 1,000 hosts. Beyond 8 candidates two are sampled "
        "and the better kept, so the cost does not grow with the cluster."
    )
    return table, series
