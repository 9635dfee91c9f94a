"""HTTP servers on 127.0.0.1 whose behaviour can be switched at any moment.

A `Switchboard` runs a few servers (one accept thread for all of them, one
thread per connection) and records every request with its `X-Request-Id` and
the time its first bytes reached the kernel (the kernel's own receive
timestamp on Linux, so a busy server thread does not make it late), and every
answer before it is written (so before any client can see it) with the time
it was all written. Each server is in one mode at a time, read when a request
arrives:

- `ok`: answer 200 with `{"id": ..., "host": ...}`;
- `refuse`: refuse connections (the port stays bound, but not listening) and
  close every open connection at the switch;
- `drop`: read the request, then close the connection without a reply;
- `busy`: answer 503; `busy_ra`: 503 with `Retry-After: 1`;
- `stall`: read the request, never answer: hold the connection until the
  client closes it, the mode changes to `refuse`, or the board stops (at most
  `STALL_LIMIT` seconds).

Everything is bounded (socket timeouts, polls of 20 ms) and `stop()` closes
every socket and joins every thread.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

LOCALHOST = "127.0.0.1"
MODES = ("ok", "refuse", "drop", "busy", "busy_ra", "stall")
FAULTS = MODES[1:]
SOCKET_TIMEOUT = 10.0
STALL_LIMIT = 5.0
POLL = 0.02
# Linux: receive timestamps of the kernel (CLOCK_REALTIME) as ancillary data.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_STAMPED = sys.platform == "linux"
_TIMESPEC = struct.Struct("@qq")


@dataclass(frozen=True)
class Arrival:
    """A request whose request line reached a server."""

    rid: str
    method: str
    host: str
    at: float  # time.monotonic() when its first bytes reached the kernel
    mode: str


@dataclass
class Answer:
    """An answer, recorded before it is written (so before any client sees it)."""

    rid: str
    host: str
    status: int
    sent: float | None = None  # time.monotonic() once all of it was written


class _Server:
    """One switchable server; its sockets are guarded by the board's lock."""

    def __init__(self, board: Switchboard) -> None:
        self.board = board
        self.mode = "ok"
        self.listener = self._socket(0)
        self.listener.listen(128)
        self.listener.setblocking(False)
        self.listening = True
        self.port = self.listener.getsockname()[1]
        self.host = f"{LOCALHOST}:{self.port}"
        self.conns: set[socket.socket] = set()
        #: Connections with a request being answered: a switch to `refuse`
        #: lets them finish their answer (then they close), so that every
        #: answer recorded is also delivered.
        self.busy: set[socket.socket] = set()
        #: Connections shut down by a switch to `refuse`.
        self.killed: set[socket.socket] = set()

    @staticmethod
    def _socket(port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if _STAMPED:
            # On the listener: the kernel then stamps every packet as it
            # arrives, those of connections not yet accepted too (else it
            # stamps them only when they are read), and accepted sockets
            # inherit the option.
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        end = time.monotonic() + 1.0
        while True:
            try:
                sock.bind((LOCALHOST, port))
                return sock
            except OSError:
                # The old listener may linger for an instant (a select() in
                # the accept thread still holds it): try again, briefly.
                if time.monotonic() > end:
                    sock.close()
                    raise
                time.sleep(0.005)

    def switch(self, mode: str) -> None:
        # Called with the board's lock held.
        if mode == "refuse" and self.listening:
            # Close the listener and keep the port with a bound socket that
            # does not listen: connections are refused, and no other socket
            # can take the port meanwhile.
            # shutdown() first: it stops the listening at once, even while
            # the accept thread's select() still holds the socket.
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            self.listener = self._socket(self.port)
            self.listening = False
            for conn in self.conns - self.busy:
                self.killed.add(conn)
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        elif mode != "refuse" and not self.listening:
            self.listener.listen(128)
            self.listener.setblocking(False)
            self.listening = True
        self.mode = mode


class Switchboard:
    """`size` switchable servers on 127.0.0.1, and what each received."""

    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.servers = [_Server(self) for _ in range(size)]
        self.hosts = [server.host for server in self.servers]
        self.arrivals: list[Arrival] = []
        self.answers: list[Answer] = []
        self._by_rid: dict[str, list[Arrival]] = defaultdict(list)
        self._answers_by_rid: dict[str, list[Answer]] = defaultdict(list)
        self._threads: set[threading.Thread] = set()
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    # Control ----------------------------------------------------------------

    def set_mode(self, index: int, mode: str) -> None:
        """Switch server `index` to `mode` (see the module docstring)."""
        if mode not in MODES:
            raise ValueError(mode)
        with self._lock:
            self.servers[index].switch(mode)

    def mode(self, index: int) -> str:
        return self.servers[index].mode

    def arrivals_of(self, rid: str) -> list[Arrival]:
        with self._lock:
            return list(self._by_rid.get(rid, ()))

    def answers_of(self, rid: str) -> list[Answer]:
        with self._lock:
            return list(self._answers_by_rid.get(rid, ()))

    def open_connections(self) -> int:
        with self._lock:
            return sum(len(server.conns) for server in self.servers)

    def stop(self) -> None:
        """Stop accepting, close every socket, join every thread."""
        self._stopping.set()
        self._acceptor.join(5)
        with self._lock:
            for server in self.servers:
                server.listener.close()
                for conn in server.conns:
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_RDWR)
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)

    # Serving ----------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                ready = [(s, s.listener) for s in self.servers if s.listening]
            try:
                readable, _, _ = select.select(
                    [sock for _, sock in ready], [], [], POLL
                )
            except (OSError, ValueError):
                continue  # a listener was closed under the select: poll again
            for server, sock in ready:
                if sock not in readable:
                    continue
                with self._lock:
                    if server.listener is not sock or not server.listening:
                        continue  # switched meanwhile
                    try:
                        conn, _ = sock.accept()
                    except OSError:  # BlockingIOError too
                        continue
                    server.conns.add(conn)
                    thread = threading.Thread(
                        target=self._serve, args=(server, conn), daemon=True
                    )
                    self._threads.add(thread)
                thread.start()

    def _serve(self, server: _Server, conn: socket.socket) -> None:
        conn.setblocking(True)
        conn.settimeout(SOCKET_TIMEOUT)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = _Reader(conn)
        try:
            while self._exchange(server, conn, reader):
                pass
        except (OSError, ValueError, EOFError):
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
            with self._lock:
                server.conns.discard(conn)
                server.busy.discard(conn)
                server.killed.discard(conn)
                self._threads.discard(threading.current_thread())

    def _exchange(self, server: _Server, conn: socket.socket, reader: _Reader) -> bool:
        """Serve one request; False when the connection is to be closed."""
        line = reader.readline()
        while line in (b"\r\n", b"\n"):
            line = reader.readline()
        at = reader.stamp  # when the request's first bytes reached the kernel
        method = line.split(b" ", 1)[0].decode("latin-1")
        headers: dict[str, str] = {}
        while True:
            raw = reader.readline()
            if raw in (b"\r\n", b"\n"):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        if length:
            reader.read(length)
        rid = headers.get("x-request-id", "")
        with self._lock:
            mode = server.mode
            if conn in server.killed:
                mode = "drop"  # shut down by a switch to refuse: no answer
            arrival = Arrival(rid, method, server.host, at, mode)
            self.arrivals.append(arrival)
            self._by_rid[rid].append(arrival)
            if mode in ("drop", "refuse", "stall"):
                answer = None
            else:
                # Recorded before it is sent, as the client may act on it at
                # once; a switch to refuse now waits for it to be sent.
                status = 200 if mode == "ok" else 503
                answer = Answer(rid, server.host, status)
                self.answers.append(answer)
                self._answers_by_rid[rid].append(answer)
                server.busy.add(conn)
        if mode == "stall":
            self._stall(server, conn)
        if answer is None:
            return False
        body = json.dumps({"id": rid, "host": server.host, "status": status})
        head = [
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Service Unavailable'}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
        ]
        if mode == "busy_ra":
            head.append("Retry-After: 1")
        try:
            conn.sendall(("\r\n".join([*head, "", body])).encode())
            answer.sent = time.monotonic()
        finally:
            with self._lock:
                server.busy.discard(conn)
                listening = server.listening
        return listening and headers.get("connection", "").lower() != "close"

    def _stall(self, server: _Server, conn: socket.socket) -> None:
        """Hold the connection unanswered until the client lets go."""
        conn.settimeout(POLL)
        end = time.monotonic() + STALL_LIMIT
        while time.monotonic() < end and not self._stopping.is_set():
            if server.mode == "refuse":
                return
            try:
                if not conn.recv(1, socket.MSG_PEEK):
                    return  # the client closed the connection
                return  # more bytes: not expected from a waiting client
            except TimeoutError:
                continue


class _Reader:
    """Buffered reads of one connection that know when the bytes arrived.

    `stamp` is when the first bytes of the buffer reached the kernel (as
    `time.monotonic()`), so a request is timed from its arrival, not from
    when a server thread got round to it.
    """

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.buffer = b""
        self.stamp = 0.0
        if _STAMPED:
            conn.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)

    def _fill(self) -> None:
        data, ancillary, _, _ = self.conn.recvmsg(65536, socket.CMSG_SPACE(16))
        now = time.monotonic()
        if not data:
            raise EOFError
        stamp = now
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = _TIMESPEC.unpack(payload[: _TIMESPEC.size])
                # From the realtime clock to the monotonic one.
                stamp = seconds + nanoseconds / 1e9 - (time.time() - now)
                stamp = min(stamp, now)
        if not self.buffer:
            self.stamp = stamp
        self.buffer += data

    def readline(self) -> bytes:
        while b"\n" not in self.buffer:
            if len(self.buffer) > 65536:
                raise ValueError("line too long")
            self._fill()
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"

    def read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data
