"""Real servers on 127.0.0.1 for the integration tests.

Each listens on a free port of 127.0.0.1 only, runs in daemon threads, bounds
every wait (socket timeouts, capped sleeps) and is stopped by the test that
started it (they are context managers), closing its open connections too.
"""

from __future__ import annotations

import collections
import gzip
import json
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

LOCALHOST = "127.0.0.1"
MAX_SLEEP = 5.0
SOCKET_TIMEOUT = 10.0
MAX_STREAM = 10.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT
    # One send per reply, without Nagle: otherwise delayed ACKs add 40 ms.
    wbufsize = -1
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.owner._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._closed(self.connection)

    def _reply(
        self,
        status: int,
        body: bytes = b"",
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if content_type and body:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, value: Any, **headers: str) -> None:
        self._reply(status, json.dumps(value).encode(), headers=headers)

    def _lines(self, query: dict[str, list[str]]) -> None:
        """A chunked body sent slowly: see `JSONServer`'s `/lines`."""
        chunks = [say.encode() for say in query.get("say", [])]
        gap = min(float(query.get("gap", ["0"])[0]), MAX_SLEEP)
        rounds = int(query.get("repeat", ["1"])[0])
        coder = None
        self.send_response(int(query.get("status", ["200"])[0]))
        self.send_header("Content-Type", query.get("type", ["application/x-ndjson"])[0])
        self.send_header("Transfer-Encoding", "chunked")
        if "gzip" in query:
            coder = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        until = time.monotonic() + MAX_STREAM
        try:
            self.wfile.flush()
            for index in range(rounds * len(chunks)):
                if index:
                    time.sleep(gap)
                if time.monotonic() > until:
                    break
                chunk = chunks[index % len(chunks)]
                if coder is not None:  # flushed, so each chunk decodes at once
                    chunk = coder.compress(chunk) + coder.flush(zlib.Z_SYNC_FLUSH)
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
            if coder is not None:
                chunk = coder.flush()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:  # the client went away: the point of some tests
            self.close_connection = True
            with self.server.owner._lock:
                self.server.owner.hangups += 1

    def _handle(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        parts = url.path.strip("/").split("/")
        owner._record(self.command, url.path, self.headers.get("X-Request-Id"))
        with owner._lock:
            owner.active += 1
            owner.peak = max(owner.peak, owner.active)
        try:
            self._route(parts, query, raw)
        finally:
            with owner._lock:
                owner.active -= 1

    def _route(self, parts: list[str], query: dict[str, list[str]], raw: bytes) -> None:
        owner = self.server.owner
        url = urlsplit(self.path)
        route = parts[0]
        if owner.delay:
            time.sleep(owner.delay)
        if owner.status:
            self._json(owner.status, {"status": owner.status, "host": owner.host})
            return
        if route == "drop":
            # Read the whole request, then close without a reply.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if route == "sleep":
            time.sleep(min(float(parts[1]), MAX_SLEEP))
        if route == "status":
            status = int(parts[1])
            extra = {}
            if "retry_after" in query:
                extra["Retry-After"] = query["retry_after"][0]
            self._json(status, {"status": status, "host": owner.host}, **extra)
        elif route == "gzip":
            body = gzip.compress(
                json.dumps({"gzip": True, "host": owner.host}).encode()
            )
            self._reply(200, body, headers={"Content-Encoding": "gzip"})
        elif route == "text":
            self._reply(200, "héllo".encode(), "text/plain; charset=utf-8")
        elif route == "answer":
            # /answer/<code>?say=<body>[&type=<content type>]
            say = query.get("say", [""])[0].encode()
            self._reply(int(parts[1]), say, query.get("type", ["text/plain"])[0])
        elif route == "lines":
            self._lines(query)
        elif route == "empty":
            self._reply(int(parts[1]) if len(parts) > 1 else 200)
        elif route == "badjson":
            self._reply(200, b"{not json", "application/json")
        elif route == "big":
            self._reply(200, b"x" * int(parts[1]), "text/plain")
        elif url.path == "/v3/cluster/member/list" and owner.members is not None:
            # etcd's member list, as etcd's JSON gateway answers it.
            members = [
                {"ID": str(index + 1), "name": f"m{index}", "clientURLs": [url]}
                for index, url in enumerate(owner.members)
            ]
            self._json(200, {"header": {"member_id": "1"}, "members": members})
        elif route == "redirect":
            # /redirect?to=<url>[&status=<code>][&cookie=<name=value>]
            extra = {"Location": query["to"][0]}
            if "cookie" in query:
                extra["Set-Cookie"] = query["cookie"][0] + "; Path=/"
            status = int(query.get("status", ["302"])[0])
            self._json(status, {"redirect": True, "host": owner.host}, **extra)
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("latin-1")
            self._json(
                200,
                {
                    "method": self.command,
                    "path": url.path,
                    "query": query,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                    "host": owner.host,
                },
            )

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops the SYNs of a wider burst,
    # which the client then resends a second later.
    request_queue_size = 128
    owner: JSONServer
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        if self.tls is not None:
            # The handshake happens at the handler's first read, in its own
            # thread: a client that rejects the certificate stalls nothing.
            conn = self.tls.wrap_socket(
                conn, server_side=True, do_handshake_on_connect=False
            )
        return conn, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # dropped connections are the point of some routes


def wait_until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    """Poll `condition` until it holds: for what a server's thread notices late."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {condition}")
        time.sleep(0.01)


class JSONServer:
    """A JSON echo server with fault routes; counts what it receives.

    Routes: `/echo` (anything else echoes method, path, query, headers and body),
    `/status/<code>[?retry_after=S]`, `/sleep/<seconds>`, `/gzip`, `/text`,
    `/empty[/<code>]`, `/badjson`, `/big/<bytes>`, `/answer/<code>?say=<body>
    [&type=<content type>]`, `/lines?say=<chunk>...[&gap=<seconds>]
    [&repeat=<rounds>][&type=<content type>][&status=<code>][&gzip]` (each
    `say` as one chunk of a chunked body, `gap` seconds apart, `repeat` times
    over, for at most `MAX_STREAM` seconds or until the client goes away,
    counted in `hangups`), `/drop` (reads the request,
    then closes without a reply), `/redirect?to=<url>[&status=<code>]
    [&cookie=<name=value>]`, and `/v3/cluster/member/list` (etcd's member
    list: each of `members`, client URLs, once it is set). With `tls` (a
    server-side SSLContext) it speaks HTTPS. With `status` it answers every
    request with that status instead (a proxy whose upstream is dead:
    `status=502`); both may change later.
    """

    def __init__(
        self, delay: float = 0.0, tls: ssl.SSLContext | None = None, status: int = 0
    ) -> None:
        self.delay = delay
        self.status = status
        self.requests: list[tuple[str, str]] = []
        self.ids: collections.Counter[str] = collections.Counter()
        self.connections = 0
        self.active = 0  # requests being handled right now
        self.peak = 0  # the most handled at once
        self.hangups = 0  # `/lines` streams the client left before their end
        #: The client URLs `/v3/cluster/member/list` answers (None: no route).
        self.members: list[str] | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._server = _HTTPServer((LOCALHOST, 0), _Handler)
        self._server.owner = self
        self._server.tls = tls
        self.port = self._server.server_address[1]
        self.host = f"{LOCALHOST}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self._thread.start()

    def _record(self, method: str, path: str, request_id: str | None) -> None:
        with self._lock:
            self.requests.append((method, path))
            if request_id:
                self.ids[request_id] += 1

    def _opened(self, conn: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._open.add(conn)

    def _closed(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.discard(conn)

    @property
    def open_connections(self) -> int:
        """Connections open right now (a client's kept-alive ones included)."""
        with self._lock:
            return len(self._open)

    def stop(self) -> None:
        """Stop accepting, close every open connection, and release the port."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)

    def __enter__(self) -> JSONServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class Closer:
    """Accepts connections and closes each at once, counting the accepts."""

    def __init__(self) -> None:
        self.accepts = 0
        self._sock = socket.create_server((LOCALHOST, 0))
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self.host = f"{LOCALHOST}:{self.port}"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepts += 1
            conn.close()

    def stop(self) -> None:
        """Stop the accept loop and release the port."""
        self._stopping.set()
        self._thread.join(5)
        self._sock.close()

    def __enter__(self) -> Closer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class ClosedPort:
    """A port of 127.0.0.1 that refuses connections.

    The socket is bound but never listens, so the port cannot be taken by
    another test while this one expects it refused.
    """

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((LOCALHOST, 0))
        self.port = self._sock.getsockname()[1]
        self.host = f"{LOCALHOST}:{self.port}"

    def stop(self) -> None:
        """Release the port."""
        self._sock.close()

    def __enter__(self) -> ClosedPort:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
