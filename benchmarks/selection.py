"""Part 4: the cost of choosing a host."""

from __future__ import annotations

import timeit

import jsonrest

from .harness import Table


def measure(sizes: list[int], number: int) -> tuple[Table, dict[str, list[float]]]:
    table = Table(
        f"choice() cost, µs per call (best of 5 × {number} calls)",
        ["hosts", "all up", "10% down", "overridden priority()"],
    )
    series: dict[str, list[float]] = {
        "N": list(sizes),
        "all up": [],
        "10% down": [],
        "override": [],
    }

    class Custom(jsonrest.Resources):
        def priority(self, host: str) -> object:
            return len(host)

    for n in sizes:
        hosts = [f"h{i}.example:80" for i in range(n)]
        cluster = jsonrest.Resources(hosts)
        custom = Custom(hosts)
        up = (
            min(
                timeit.repeat(
                    lambda c=cluster, h=hosts: c.choice(h), number=number, repeat=5
                )
            )
            / number
            * 1e6
        )
        for host in hosts[: max(1, n // 10)]:
            cluster.health.failed(host)
        down = (
            min(
                timeit.repeat(
                    lambda c=cluster, h=hosts: c.choice(h), number=number, repeat=5
                )
            )
            / number
            * 1e6
        )
        over = (
            min(
                timeit.repeat(
                    lambda c=custom, h=hosts: c.choice(h), number=number, repeat=5
                )
            )
            / number
            * 1e6
        )
        table.rows.append([n, up, down, over])
        series["all up"].append(up)
        series["10% down"].append(down)
        series["override"].append(over)
    return table, series
