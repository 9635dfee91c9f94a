"""`python -m demo`: start the demo cluster on 127.0.0.1 and call it every way.

`python -m demo --serve [--port N]` keeps the cluster up until Ctrl-C instead,
for trying the `jsonrest` command against it (docs/cli.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import subprocess
import sys
import time
from typing import Any

import anyio

import jsonrest
from demo.servers import cluster


class DeadFirst(jsonrest.Resources):
    """Prefers `dead` while it looks up, so the tour shows a failover every run."""

    def __init__(self, hosts: list[str], dead: str) -> None:
        super().__init__(hosts)
        self.dead = dead

    def priority(self, host: str) -> Any:
        return (super().priority(host), host != self.dead)


def closed_port() -> str:
    """A port of 127.0.0.1 nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def show(label: str, value: Any) -> None:
    print(f"  {label:<52} {json.dumps(value)}")


async def awaitable_part(hosts: list[str]) -> None:
    async with jsonrest.AsyncResources(hosts) as many:
        response = await many.unicast("GET", "/plum")
        show(
            f"await AsyncResources.unicast('GET', '/plum') [{response.host}]",
            response(),
        )
        responses = await many.broadcast("GET", "/pear")
        show(
            "await AsyncResources.broadcast('GET', '/pear')",
            [r.status for r in responses],
        )


def tour(hosts: list[str]) -> int:
    print(f"demo cluster: {', '.join(hosts)}\n")
    print("One host: Resource")
    with jsonrest.Resource(hosts[0]) as one:
        show("Resource.get('/apple')", one.get("/apple"))
        show("Resource.post('/pear', {'n': 1})", one.post("/pear", {"n": 1}))
        response = one.request("GET", "/kiwi")
        show(f"Resource.request('GET', '/kiwi') -> {response.status}", response.value)
        try:
            one.get("/kiwi")
        except jsonrest.StatusError as error:
            show(f"Resource.get('/kiwi') raises StatusError {error.status}", error.body)

    print("\nMany hosts: Resources (load-balanced unicast, parallel broadcast)")
    with jsonrest.Resources(hosts) as many:
        served = sorted({many.unicast("GET", "/apple").host for _ in range(12)})
        show("12 x Resources.unicast('GET', '/apple') went to", served)
        start = time.perf_counter()
        responses = many.broadcast("GET", "/slow")
        took = time.perf_counter() - start
        show(
            f"Resources.broadcast('GET', '/slow') took {took:.2f} s",
            [f"{r.host} {r.status}" for r in responses],
        )

    print("\nFailover: a fourth host refuses connections (and is tried first)")
    dead = closed_port()
    # This script is the application: it may show the library's log lines.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("  log %(levelname)s: %(message)s"))
    log = logging.getLogger("jsonrest")
    log.addHandler(handler)
    level = log.level
    log.setLevel(logging.INFO)
    with DeadFirst([dead, *hosts], dead=dead) as many:
        statuses = [many.unicast("GET", "/plum").status for _ in range(6)]
        show("6 x Resources.unicast('GET', '/plum') statuses", statuses)
        stats = many.stats()[dead]
        show(
            f"Resources.stats()['{dead}']",
            {k: stats[k] for k in ("requests", "failures", "state")},
        )
    log.removeHandler(handler)
    log.setLevel(level)

    print("\nShards: keys placed on hosts, multicast to the fewest hosts")
    placement = {
        hosts[0]: ["apple", "pear"],
        hosts[1]: ["pear", "plum"],
        hosts[2]: ["plum", "apple"],
    }
    with jsonrest.Shards(multimap=placement) as shards:
        keys = ["apple", "pear", "plum"]
        # Any two hosts hold all three keys: each call picks a cover at random.
        show("Shards.cover(['apple', 'pear', 'plum'])", sorted(shards.cover(keys)))
        responses = shards.multicast(keys, "GET", "/")
        show(
            "Shards.multicast(keys, 'GET', '/') answered by",
            sorted(r.host for r in responses),
        )

    print("\nThe awaitable twins, on asyncio and on trio")
    for backend in ("asyncio", "trio"):
        print(f"  [{backend}]")
        anyio.run(awaitable_part, hosts, backend=backend)

    command = ["--host", hosts[0], "--host", hosts[1], "--broadcast", "GET", "/apple"]
    print("\nThe command line: jsonrest " + " ".join(command), flush=True)
    status = subprocess.call([sys.executable, "-m", "jsonrest", *command])
    print(f"(exit status {status})")
    return 0


def serve(hosts: list[str]) -> int:
    print("demo cluster on " + " ".join(hosts) + " (Ctrl-C stops it)", flush=True)
    print(
        "try: jsonrest "
        + " ".join(f"--host {host}" for host in hosts)
        + " --broadcast GET /apple",
        flush=True,
    )
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument(
        "--serve", action="store_true", help="keep the cluster up until Ctrl-C"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="with --serve: the first node's port (default: free ports)",
    )
    args = parser.parse_args(argv)
    with cluster(port=args.port) as hosts:
        return serve(hosts) if args.serve else tour(hosts)


if __name__ == "__main__":
    sys.exit(main())
