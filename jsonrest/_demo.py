"""`jsonrest demo`: start a small JSON cluster on 127.0.0.1 and talk to it.

The servers are plain `http.server` threads on free ports of 127.0.0.1; they
stop when the demo ends.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import anyio

import jsonrest

_INVENTORY = {"apple": 3, "pear": 0, "plum": 12}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10
    wbufsize = -1  # one send per reply: no delayed-ACK stalls
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        sent = json.loads(self.rfile.read(length)) if length else None
        name = self.path.strip("/").split("?")[0]
        node = f"node-{cast(ThreadingHTTPServer, self.server).server_port}"
        if self.path.startswith("/slow"):
            time.sleep(0.2)
        if name in _INVENTORY or name == "" or self.path.startswith("/slow"):
            status, body = (
                200,
                {
                    "node": node,
                    "path": self.path,
                    "received": sent,
                    "stock": _INVENTORY.get(name),
                },
            )
        else:
            status, body = 404, {"node": node, "error": f"no item {name!r}"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _answer


@contextmanager
def cluster(size: int = 3) -> Iterator[list[str]]:
    """Run `size` JSON servers on 127.0.0.1; yield their host strings."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Handler) for _ in range(size)]
    threads = []
    for server in servers:
        server.daemon_threads = True
        thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), daemon=True
        )
        thread.start()
        threads.append(thread)
    try:
        yield [f"127.0.0.1:{server.server_address[1]}" for server in servers]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


class _DeadFirst(jsonrest.Resources):
    """Prefers `dead` while it looks up, so the demo shows a failover every run."""

    def __init__(self, hosts: list[str], dead: str) -> None:
        super().__init__(hosts)
        self.dead = dead

    def priority(self, host: str) -> Any:
        return (super().priority(host), host != self.dead)


def _closed_port() -> str:
    """A port of 127.0.0.1 nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def _show(label: str, value: Any) -> None:
    print(f"  {label:<52} {json.dumps(value)}")


async def _async_part(hosts: list[str]) -> None:
    async with jsonrest.AsyncResources(hosts) as cluster:
        response = await cluster.unicast("GET", "/plum")
        _show(
            f"await AsyncResources.unicast('GET', '/plum') [{response.host}]",
            response(),
        )
        responses = await cluster.broadcast("GET", "/pear")
        _show(
            "await AsyncResources.broadcast('GET', '/pear')",
            [r.status for r in responses],
        )


def main(argv: list[str] | None = None) -> int:
    """Run the demo (`--serve`: keep the cluster up until Ctrl-C); return the status."""
    argv = list(argv or [])
    if argv not in ([], ["--serve"]):
        print("usage: jsonrest demo [--serve]", file=sys.stderr)
        return 2
    with cluster() as hosts:
        if argv == ["--serve"]:
            print(
                "demo cluster on " + " ".join(hosts) + " (Ctrl-C stops it)", flush=True
            )
            print(
                "try: jsonrest "
                + " ".join(f"--host {h}" for h in hosts)
                + " --broadcast GET /apple",
                flush=True,
            )
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                return 0
        print(f"demo cluster: {', '.join(hosts)}\n")
        print("One host: Resource")
        with jsonrest.Resource(hosts[0]) as resource:
            _show("Resource.get('/apple')", resource.get("/apple"))
            _show("Resource.post('/pear', {'n': 1})", resource.post("/pear", {"n": 1}))
            response = resource.request("GET", "/kiwi")
            _show(
                f"Resource.request('GET', '/kiwi') -> {response.status}", response.value
            )
            try:
                resource.get("/kiwi")
            except jsonrest.StatusError as error:
                _show(
                    f"Resource.get('/kiwi') raises StatusError {error.status}",
                    error.body,
                )

        print("\nMany hosts: Resources (load-balanced unicast, parallel broadcast)")
        with jsonrest.Resources(hosts) as many:
            served = sorted({many.unicast("GET", "/apple").host for _ in range(12)})
            _show("12 x Resources.unicast('GET', '/apple') went to", served)
            start = time.perf_counter()
            responses = many.broadcast("GET", "/slow")
            took = time.perf_counter() - start
            _show(
                f"Resources.broadcast('GET', '/slow') took {took:.2f} s",
                [f"{r.host} {r.status}" for r in responses],
            )

        print("\nFailover: a fourth host refuses connections (and is tried first)")
        dead = _closed_port()
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("  log %(levelname)s: %(message)s"))
        log = logging.getLogger("jsonrest")
        log.addHandler(handler)
        level = log.level
        log.setLevel(logging.INFO)
        try:
            with _DeadFirst([dead, *hosts], dead=dead) as many:
                statuses = [many.unicast("GET", "/plum").status for _ in range(6)]
                _show("6 x Resources.unicast('GET', '/plum') statuses", statuses)
                stats = many.stats()[dead]
                _show(
                    f"Resources.stats()['{dead}']",
                    {k: stats[k] for k in ("requests", "failures", "state")},
                )
        finally:
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
            _show("Shards.cover(['apple', 'pear', 'plum'])", sorted(shards.cover(keys)))
            responses = shards.multicast(keys, "GET", "/")
            _show(
                "Shards.multicast(keys, 'GET', '/') answered by",
                sorted(r.host for r in responses),
            )

        print("\nThe awaitable twins, on asyncio and on trio")
        for backend in ("asyncio", "trio"):
            print(f"  [{backend}]")
            try:
                anyio.run(_async_part, hosts, backend=backend)
            except (ImportError, LookupError):
                print(f"  ({backend} is not installed: skipped)")

        from ._cli import main as cli

        command = [
            "--host",
            hosts[0],
            "--host",
            hosts[1],
            "--broadcast",
            "GET",
            "/apple",
        ]
        print("\nThe command line: jsonrest " + " ".join(command))
        status = cli(command)
        print(f"(exit status {status})")
    return 0
