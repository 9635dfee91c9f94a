"""A fault-injecting TCP proxy on 127.0.0.1, in front of a real JSON server.

Each accepted connection gets one fault, chosen at random (seeded) from the
proxy's weights or forced with `force(...)`; the proxy counts what it
injected. It runs its own asyncio loop in a daemon thread so blocking and
async clients alike can use it, bounds every wait, and `stop()` closes every
connection.
"""

from __future__ import annotations

import asyncio
import collections
import random
import socket
import struct
import threading
from collections.abc import Mapping

LOCALHOST = "127.0.0.1"

#: The faults, each applied to a whole connection.
FAULTS = (
    "none",  # relay faithfully
    "refuse",  # reset the connection as soon as it is accepted
    "reset_before",  # reset once the first request bytes arrive, sending nothing on
    "reset_after",  # relay the request, then reset before any reply byte
    "truncate",  # relay the reply's headers and half its body, then close
    "stall",  # read the request, never answer (until the proxy stops)
    "busy",  # answer 503 with Retry-After itself
    "garbage",  # answer 200 with an invalid JSON body itself
    "dribble",  # relay the reply's headers, then its body a byte at a time
)
DRIBBLE_EVERY = 0.1  # seconds between the bytes of a dribbled body

_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b'Retry-After: 1\r\nContent-Length: 17\r\n\r\n{"error":"busy"}\n'
)
_GARBAGE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: 9\r\n\r\n{not json"
)
STALL_LIMIT = 30.0  # seconds a stalled connection is held at the most


def _length(head: bytes) -> int:
    """The Content-Length of a message head (0 when it has none)."""
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


class FaultProxy:
    """Proxies 127.0.0.1:`port` to `target_port`, injecting faults per connection.

    `port=0` takes a free port; pass the port of a stopped proxy to restart
    a host where clients expect it.
    """

    def __init__(
        self,
        target_port: int,
        weights: Mapping[str, float] | None = None,
        seed: int = 0,
        port: int = 0,
    ) -> None:
        self.target_port = target_port
        self.port = port
        self.weights = dict(weights or {"none": 1.0})
        unknown = set(self.weights) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults: {unknown}")
        self.rng = random.Random(seed)
        self.injected: collections.Counter[str] = collections.Counter()
        self._forced: list[str] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        self.host = f"{LOCALHOST}:{self.port}"

    def force(self, *faults: str) -> None:
        """Apply these faults to the next connections, in order."""
        with self._lock:
            self._forced.extend(faults)

    def set_weights(self, weights: Mapping[str, float]) -> None:
        """Change the random mix of faults for new connections."""
        with self._lock:
            self.weights = dict(weights)

    def _pick(self) -> str:
        with self._lock:
            if self._forced:
                return self._forced.pop(0)
            names = list(self.weights)
            return self.rng.choices(names, [self.weights[n] for n in names])[0]

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(
                self._accept, LOCALHOST, self.port, backlog=512, reuse_address=True
            )
        )
        self.port = server.sockets[0].getsockname()[1]
        self._server = server
        self._ready.set()
        self._loop.run_forever()
        # Stopping: accept nothing more, end every handler, then abort every
        # connection still registered, so no socket is left for the collector.
        server.close()
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        if pending:
            self._loop.run_until_complete(
                asyncio.gather(*pending, return_exceptions=True)
            )
        for writer in list(self._writers):
            writer.transport.abort()
        self._loop.run_until_complete(asyncio.sleep(0.01))  # runs connection_lost
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # A plain callback, not a coroutine: the connection is registered at
        # once, before its handler task ever runs.
        self._writers.add(writer)
        self._loop.create_task(self._handle(reader, writer))

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        fault = self._pick()
        with self._lock:
            self.injected[fault] += 1
        try:
            await asyncio.wait_for(self._apply(fault, reader, writer), STALL_LIMIT)
        except (
            OSError,
            asyncio.TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.CancelledError,
        ):  # cancelled: the proxy is stopping
            pass
        finally:
            self._writers.discard(writer)
            if not writer.is_closing():
                writer.close()

    async def _apply(
        self, fault: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if fault == "refuse":
            _reset(writer)
            return
        if fault == "reset_before":
            await reader.read(1)
            _reset(writer)
            return
        if fault in ("stall", "busy", "garbage"):
            await reader.readuntil(b"\r\n\r\n")
            if fault == "stall":
                # Never answer; let go once the client gives up and closes.
                while await reader.read(65536):
                    pass
                return
            writer.write(_BUSY if fault == "busy" else _GARBAGE)
            await writer.drain()
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(
            LOCALHOST, self.target_port
        )
        self._writers.add(up_writer)
        try:
            if fault == "reset_after":
                await self._relay_request(reader, up_writer)
                await up_reader.read(1)  # the server answered: the request arrived
                _reset(writer)
                return
            if fault == "truncate":
                await self._relay_request(reader, up_writer)
                head = await up_reader.readuntil(b"\r\n\r\n")
                length = _length(head)
                body = await up_reader.read(max(length // 2, 1))
                writer.write(head + body[: max(length // 2, 0)])
                await writer.drain()
                writer.close()
                return
            if fault == "dribble":
                # Every read makes progress, so no per-read timeout fires:
                # only a bound on the whole call ends it.
                await self._relay_request(reader, up_writer)
                head = await up_reader.readuntil(b"\r\n\r\n")
                body = await up_reader.readexactly(_length(head))
                writer.write(head)
                for index in range(len(body)):
                    await writer.drain()
                    await asyncio.sleep(DRIBBLE_EVERY)
                    writer.write(body[index : index + 1])
                await writer.drain()
                writer.close()
                return
            await asyncio.gather(
                self._pipe(reader, up_writer), self._pipe(up_reader, writer)
            )
        finally:
            self._writers.discard(up_writer)
            up_writer.close()

    async def _relay_request(
        self, reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter
    ) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = _length(head)
        body = await reader.readexactly(length) if length else b""
        up_writer.write(head + body)
        await up_writer.drain()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            if not writer.is_closing():
                writer.close()

    def stop(self) -> None:
        """Close every connection and the listening socket; join the thread."""

        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
