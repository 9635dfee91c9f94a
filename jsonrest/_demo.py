"""`jsonrest demo`: start a small JSON cluster on 127.0.0.1 and talk to it.

The servers are plain `http.server` threads on free ports of 127.0.0.1; they
stop when the demo ends.
"""

from __future__ import annotations

import json
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


def _show(label: str, value: Any) -> None:
    print(f"{label:<44} {json.dumps(value)}")


async def _async_part(host: str) -> None:
    async with jsonrest.AsyncResource(host) as resource:
        _show(
            f"await AsyncResource({host!r}).get('/plum')", await resource.get("/plum")
        )


def main() -> int:
    """Run the demo; return the exit status."""
    with cluster() as hosts:
        print(f"demo cluster: {', '.join(hosts)}\n")
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
                _show("Resource.get('/kiwi') raises StatusError", error.body)
        for backend in ("asyncio", "trio"):
            try:
                anyio.run(_async_part, hosts[1], backend=backend)
            except (ImportError, LookupError):
                print(f"({backend} is not installed: skipped)")
    return 0
