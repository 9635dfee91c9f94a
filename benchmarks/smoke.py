"""A smoke check of the benchmarks, without pytest: `python -m benchmarks.smoke`.

In a few seconds: every server starts, answers and stops; every client the
benchmarks compare makes one request; the naive cover agrees with
minimal_cover; a results table renders. `--run` adds a quick run of the
given parts (e.g. `--run 4,5`) written to a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import socket
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx

from . import ceilings, cover, overhead, peers
from .harness import Table, interleaved
from .servers import BODY, LOCALHOST, ClosedPort, DelayCluster, StaticCluster

failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)


def _closed(host: str) -> bool:
    port = int(host.rsplit(":", 1)[1])
    try:
        socket.create_connection((LOCALHOST, port), 0.5).close()
    except OSError:
        return True
    return False


def servers() -> list[str]:
    """Check each kind of server; return the static hosts' kind."""
    kinds = []
    for force_python in (False, True):
        with StaticCluster(2, force_python=force_python) as static:
            kinds.append(static.kind)
            got = [httpx.get(f"http://{h}/item.json", timeout=5) for h in static.hosts]
            check(
                all(r.content == BODY and r.json()["name"] == "plum" for r in got),
                f"{static.kind} static server answers the JSON body on 2 ports",
            )
            hosts = static.hosts
        check(all(map(_closed, hosts)), f"{kinds[-1]} static server stopped")
    with DelayCluster(2, 0.05) as slow:
        start = time.perf_counter()
        body = httpx.get(f"http://{slow.hosts[0]}/item.json", timeout=5).content
        took = time.perf_counter() - start
        check(
            body == BODY and 0.045 < took < 2,
            f"delayed server answers in {took * 1000:.0f} ms",
        )
        hosts = slow.hosts
    check(all(map(_closed, hosts)), "delayed server stopped")
    with ClosedPort() as dead:
        check(_closed(dead.host), "closed port refuses connections")
    return kinds


def clients() -> None:
    """One request from every client the parts compare."""
    with StaticCluster(4) as static, ClosedPort() as dead:
        hosts = static.hosts
        for name, make in peers._sync_clients(hosts).items():
            call, close = make()
            try:
                check(call() is not None, f"sync client: {name}")
            finally:
                close()
        item = json.loads(BODY)
        for name, make in ceilings._sync_clients(hosts).items():
            call, close = make()
            try:
                # Twice round the hosts: a bare loop takes them in turn.
                got = [call() for _ in range(2 * len(hosts))]
                check(all(g == item for g in got), f"ceiling sync client: {name}")
            finally:
                close()

        async def run_async() -> None:
            factories = {
                **overhead.async_factories(hosts, "asyncio"),
                **peers._async_clients(hosts, 2),
            }
            for name, make in factories.items():
                call, close = make()
                try:
                    check(await call() is not None, f"async client: {name}")
                finally:
                    await close()
            # Failover past the dead host, as part 2 measures.
            call, close = peers._async_clients([dead.host, *hosts[:1]], 2)[
                peers.OURS_ASYNC
            ]()
            try:
                check(
                    all([await call() for _ in range(5)]),
                    "AsyncResources fails over past a closed port",
                )
            finally:
                await close()

        anyio.run(run_async, backend="asyncio")

        async def run_ceilings() -> None:
            for name, make in ceilings._async_clients(hosts, "asyncio").items():
                call, close = make()
                try:
                    got = [await call() for _ in range(2 * len(hosts))]
                    # elastic-transport's nodes answer the JSON decoded too.
                    check(all(g == item for g in got), f"ceiling async client: {name}")
                finally:
                    await close()

        anyio.run(run_ceilings, backend="asyncio")
        got = interleaved({"a": lambda: None, "b": lambda: None}, 10, 3)
        check(
            sorted(got) == ["a", "b"] and len(got["a"].values) == 3,
            "interleaved rounds",
        )


def covers() -> None:
    """The naive enumeration and minimal_cover find covers of the same size."""
    rng = random.Random(1)
    agree = True
    for _ in range(30):
        hosts, replicas = rng.choice([(6, 2), (10, 3), (64, 3)])
        choices = cover.placement(
            rng.choice(["ring", "random"]), hosts, replicas, 6, rng
        )
        naive = cover.naive_cover(choices, 5.0)
        ours = cover.minimal_cover(choices, dict.fromkeys(range(hosts), 0))
        covers_all = all(c & ours for c in choices)
        agree = agree and covers_all and len(naive) == len(ours)
    check(agree, "naive enumeration and minimal_cover agree on 30 small placements")
    from . import profiles

    text = profiles.profile("cover", keys=2000, hosts=100, replicas=3, kind="ring", n=3)
    check("jsonrest/_cover.py" in text, "a profile names its hot spots")
    table = Table("t", ["a", "b"], [["x", 1.5]])
    check("| x | 1.50 |" in table.markdown(), "tables render")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.smoke")
    parser.add_argument("--run", metavar="PARTS", help="also a quick run of PARTS")
    args = parser.parse_args(argv)
    logging.getLogger("jsonrest").setLevel(logging.ERROR)  # failover is expected
    started = time.perf_counter()
    kinds = servers()
    if kinds[0] != "nginx":
        print("note: nginx unavailable; the benchmarks would use the Python server")
    clients()
    covers()
    if args.run:
        from .__main__ import main as bench

        with tempfile.TemporaryDirectory() as out:
            code = bench(["--quick", "--parts", args.run, "--out", out])
            text = (Path(out) / "RESULTS.md").read_text()
            check(code == 0 and "## Targets" in text, f"quick run of parts {args.run}")
    print(
        f"{'FAILED: ' + str(len(failures)) if failures else 'all ok'} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
