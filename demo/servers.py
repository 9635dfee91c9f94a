"""The demo cluster: `http.server` threads on 127.0.0.1, one per node.

Each node answers with JSON that names it (`node-1`, `node-2`, ...):

- `/`, `/apple`, `/pear`, `/plum`: the item's stock, and the JSON received;
  `/slow` the same after 0.2 s; any other path 404.
- `/echo`: the method, the query and the `X-` headers received.
- `/private`: 200 with `Authorization: Bearer s3cret` or basic `demo:plum`,
  else 401 (quoting a wrong bearer token back, as some servers do).
- `/old/<name>`: 301 to `/<name>`.
- `/apple.png`: a PNG image (binary); `/broken`: 200 with invalid JSON.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

INVENTORY = {"": None, "apple": 3, "pear": 0, "plum": 12}
TOKEN = "s3cret"
USER = ("demo", "plum")
#: A 1x1 PNG: binary, starting with 0x89 (not UTF-8).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA"
    "hKmMIQAAAABJRU5ErkJggg=="
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    node = "node"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10
    wbufsize = -1  # one send per reply: no delayed-ACK stalls
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(
        self, status: int, body: bytes, content_type: str, **headers: str
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, value: dict[str, Any], **headers: str) -> None:
        body = json.dumps({"node": self.server.node, **value}).encode()
        self._reply(status, body, "application/json", **headers)

    def _private(self) -> None:
        scheme, _, credential = self.headers.get("Authorization", "").partition(" ")
        if scheme == "Bearer" and credential == TOKEN:
            self._json(200, {"private": True, "as": "bearer token"})
            return
        if scheme == "Basic":
            try:
                user, _, password = base64.b64decode(credential).decode().partition(":")
            except ValueError:
                user = password = ""
            if (user, password) == USER:
                self._json(200, {"private": True, "as": f"user {user}"})
                return
        why = (
            f"token {credential} is not valid" if scheme == "Bearer" else "unauthorized"
        )
        self._json(401, {"error": why}, **{"WWW-Authenticate": "Bearer"})

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            received = json.loads(raw) if raw else None
        except ValueError:
            self._json(400, {"error": "the body is not JSON"})
            return
        url = urlsplit(self.path)
        name = url.path.strip("/")
        if name == "echo":
            self._json(
                200,
                {
                    "method": self.command,
                    "query": parse_qs(url.query),
                    "headers": {
                        k.lower(): v
                        for k, v in self.headers.items()
                        if k.lower().startswith("x-")
                    },
                    "received": received,
                },
            )
        elif name == "private":
            self._private()
        elif name.startswith("old/"):
            moved = "/" + name.removeprefix("old/")
            self._json(301, {"moved": moved}, Location=moved)
        elif name == "apple.png":
            self._reply(200, PNG, "image/png")
        elif name == "broken":
            self._reply(200, b'{"stock": 3,', "application/json")
        elif name in INVENTORY or name == "slow":
            if name == "slow":
                time.sleep(0.2)
            value = {"path": url.path, "stock": INVENTORY.get(name)}
            self._json(200, {**value, "received": received})
        else:
            self._json(404, {"error": f"no item {name!r}"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer


@contextmanager
def cluster(size: int = 3, port: int = 0) -> Iterator[list[str]]:
    """Run `size` nodes on 127.0.0.1 (on ports `port`, `port + 1`... or, with
    `port` 0, on free ports); yield their host strings; stop them after."""
    servers: list[_Server] = []
    try:
        for index in range(size):
            server = _Server(("127.0.0.1", port + index if port else 0), _Handler)
            server.node = f"node-{index + 1}"
            servers.append(server)
            threading.Thread(
                target=server.serve_forever, args=(0.05,), daemon=True
            ).start()
        yield [f"127.0.0.1:{server.server_address[1]}" for server in servers]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
