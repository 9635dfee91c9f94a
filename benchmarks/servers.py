"""The servers the benchmarks talk to, all on 127.0.0.1, all stopped at exit.

`StaticCluster` serves one small JSON file on several ports: nginx (Debian's
package, installed when missing and possible) or, failing that, a Python
server, which is then the bottleneck and the results say so.
`DelayCluster` answers every request after a fixed delay, from a separate
process so the client's measurements do not share its interpreter.

Every server runs in a child process that the kernel stops if the benchmark
dies (PR_SET_PDEATHSIG), every Python server also stops by itself after an
hour, and `stop_all` (run at exit) stops whatever is still registered.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BODY = (
    b'{"id": 1, "name": "plum", "tags": ["a", "b", "c"], "price": 3.25, "stock": 12}\n'
)
LOCALHOST = "127.0.0.1"
#: The directory holding the `benchmarks` package: its servers run with `-m`.
ROOT = Path(__file__).resolve().parent.parent
#: A Python server stops by itself after this long, even if never told to.
SERVER_LIFETIME = 3600.0

_running: list[Any] = []


def stop_all() -> None:
    """Stop every server still running (also run at interpreter exit)."""
    for server in list(_running):
        server.stop()


atexit.register(stop_all)


def _die_with_parent() -> None:
    """In the child before exec: have the kernel SIGTERM it when we die."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports of 127.0.0.1 (bound briefly, then released)."""
    socks = [socket.create_server((LOCALHOST, 0)) for _ in range(count)]
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def wait_for(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Wait until `port` accepts connections; fail if `proc` exits or time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection((LOCALHOST, port), 0.2),
        ):
            return
        time.sleep(0.02)
    raise RuntimeError(f"server on port {port} did not start")


def _which_nginx() -> str | None:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def ensure_nginx() -> tuple[str | None, str]:
    """The nginx binary (installing Debian's package if missing and allowed),
    and a sentence saying how it was found or why there is none."""
    found = _which_nginx()
    if found:
        return found, "found installed"
    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")):
        return None, "not installed, and installing needs root and apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx"],
    ):
        print("running:", " ".join(cmd), flush=True)
        try:
            done = subprocess.run(
                cmd, env=env, capture_output=True, timeout=300, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"`{' '.join(cmd)}` failed: {exc}"
        if done.returncode:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
            return None, f"`{' '.join(cmd)}` failed: {' '.join(tail)}"
    found = _which_nginx()
    return found, "installed now with apt-get" if found else "apt-get gave no nginx"


class StaticCluster:
    """`count` ports serving BODY as application/json at /item.json."""

    def __init__(self, count: int, force_python: bool = False) -> None:
        self.ports = free_ports(count)
        self.hosts = [f"{LOCALHOST}:{p}" for p in self.ports]
        self._dir = Path(tempfile.mkdtemp(prefix="jsonrest-bench-"))
        self._dir.chmod(0o755)  # nginx workers run as an unprivileged user
        (self._dir / "item.json").write_bytes(BODY)
        nginx, how = (None, "--python-server given")
        if not force_python:
            nginx, how = ensure_nginx()
        self.kind = "nginx" if nginx else "python"
        if nginx:
            self.version = subprocess.run(
                [nginx, "-v"], capture_output=True, text=True, check=False
            ).stderr.strip()
            self.description = (
                f"{self.version} ({how}), one worker process, serving a "
                f"{len(BODY)}-byte JSON file over keep-alive connections"
            )
            self._proc = _spawn([nginx, "-c", str(self._write_conf()), "-e", "stderr"])
        else:
            self.version = f"Python {sys.version.split()[0]} asyncio server"
            self.description = (
                f"**a Python server instead of nginx ({how})**: a single-process asyncio "
                f"server serves the {len(BODY)}-byte JSON body instead. It is "
                "slower than the clients, so it is the bottleneck: throughput "
                "ratios understate the differences between clients."
            )
            self._proc = _spawn(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.servers",
                    "static",
                    *map(str, self.ports),
                ]
            )
        _running.append(self)
        try:
            for port in self.ports:
                wait_for(port, self._proc)
        except BaseException:
            self.stop()
            raise

    def _write_conf(self) -> Path:
        d = self._dir
        servers = "\n".join(
            f"  server {{ listen {LOCALHOST}:{p}; root {d}; }}" for p in self.ports
        )
        # Every path nginx writes is in our temporary directory, so it runs
        # without root too (then as the current user).
        temp = " ".join(
            f"{kind}_temp_path {d}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        conf = d / "nginx.conf"
        conf.write_text(
            f"worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n"
            "daemon off;\nevents { worker_connections 4096; }\n"
            "http {\n  access_log off;\n  keepalive_requests 1000000;\n"
            "  keepalive_timeout 120s;\n"
            "  default_type application/json;\n  types { application/json json; }\n"
            f"  {temp}\n{servers}\n}}\n"
        )
        return conf

    def stop(self) -> None:
        """Stop the server process and remove its files (idempotent)."""
        if self in _running:
            _running.remove(self)
            _terminate(self._proc)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> StaticCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class DelayCluster:
    """`count` ports answering every request with BODY after `delay` seconds."""

    def __init__(self, count: int, delay: float) -> None:
        self.ports = free_ports(count)
        self.hosts = [f"{LOCALHOST}:{p}" for p in self.ports]
        self._proc = _spawn(
            [
                sys.executable,
                "-m",
                "benchmarks.servers",
                f"delay={delay}",
                *map(str, self.ports),
            ]
        )
        _running.append(self)
        try:
            for port in self.ports:
                wait_for(port, self._proc)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server process (idempotent)."""
        if self in _running:
            _running.remove(self)
            _terminate(self._proc)

    def __enter__(self) -> DelayCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ClosedPort:
    """A port of 127.0.0.1 that refuses connections (bound, never listening)."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind((LOCALHOST, 0))
        self.host = f"{LOCALHOST}:{self._sock.getsockname()[1]}"

    def stop(self) -> None:
        self._sock.close()

    def __enter__(self) -> ClosedPort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _serve(ports: list[int], delay: float) -> None:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n"
    )

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
                length = 0
                for line in request.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if length:
                    await reader.readexactly(length)
                if delay:
                    await asyncio.sleep(delay)
                writer.write(head + BODY)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError):
            pass
        except asyncio.CancelledError:
            # Stopping with a client's connection still open: asyncio would log
            # the cancelled handler as an error, once per connection.
            return
        finally:
            writer.close()

    servers = [
        await asyncio.start_server(handle, LOCALHOST, port, backlog=1024)
        for port in ports
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.call_later(SERVER_LIFETIME, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


class ControlledCluster:
    """`count` ports whose behaviour the benchmark changes while it runs.

    Each port answers BODY after its `delay`, stalls a random `stall` share
    of requests for `stall_for` seconds more, answers `status` instead of 200
    when set, and can be taken `down` (refusing connections, its open ones
    closed) and brought `up` again. Commands go to the server process's stdin
    and are applied when the call returns.
    """

    def __init__(self, count: int) -> None:
        self.ports = free_ports(count)
        self.hosts = [f"{LOCALHOST}:{p}" for p in self.ports]
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.servers",
                "controlled",
                *map(str, self.ports),
            ],
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        _running.append(self)
        try:
            for port in self.ports:
                wait_for(port, self._proc)
        except BaseException:
            self.stop()
            raise

    def command(self, *words: object) -> None:
        """Send one command and wait for the server to apply it."""
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.write((" ".join(map(str, words)) + "\n").encode())
        self._proc.stdin.flush()
        if self._proc.stdout.readline().strip() != b"ok":
            raise RuntimeError(f"the server refused: {words}")

    def set(self, index: int, **settings: float) -> None:
        """Change port `index`'s delay, stall, stall_for or status (0: none)."""
        for name, value in settings.items():
            self.command("set", self.ports[index], name, value)

    def reset(self) -> None:
        """Every port up, answering at once."""
        for index in range(len(self.ports)):
            self.up(index)
            self.set(index, delay=0, stall=0, stall_for=0, status=0)

    def down(self, index: int) -> None:
        self.command("down", self.ports[index])

    def up(self, index: int) -> None:
        self.command("up", self.ports[index])

    def stop(self) -> None:
        """Stop the server process (idempotent)."""
        if self in _running:
            _running.remove(self)
            _terminate(self._proc)

    def __enter__(self) -> ControlledCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _controlled(ports: list[int]) -> None:
    import random

    rng = random.Random(7)
    settings: dict[int, dict[str, float]] = {
        p: {"delay": 0.0, "stall": 0.0, "stall_for": 0.0, "status": 0.0} for p in ports
    }
    servers: dict[int, asyncio.AbstractServer] = {}
    writers: dict[int, set[asyncio.StreamWriter]] = {p: set() for p in ports}
    reasons = {200: b"OK", 502: b"Bad Gateway", 503: b"Service Unavailable"}

    def handler(port: int) -> Any:
        async def handle(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            writers[port].add(writer)
            try:
                while True:
                    request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
                    length = 0
                    for line in request.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    if length:
                        await reader.readexactly(length)
                    mine = settings[port]
                    wait = mine["delay"]
                    if mine["stall"] and rng.random() < mine["stall"]:
                        wait += mine["stall_for"]
                    if wait:
                        await asyncio.sleep(wait)
                    status = int(mine["status"]) or 200
                    body = BODY if status == 200 else b'{"error": "failing"}'
                    writer.write(
                        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s"
                        % (status, reasons.get(status, b"X"), len(body), body)
                    )
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError):
                pass
            except asyncio.CancelledError:
                return
            finally:
                writers[port].discard(writer)
                writer.close()

        return handle

    async def listen(port: int) -> None:
        servers[port] = await asyncio.start_server(
            handler(port), LOCALHOST, port, backlog=1024
        )

    for port in ports:
        await listen(port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.call_later(SERVER_LIFETIME, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )

    async def commands() -> None:
        while line := await reader.readline():
            verb, port_text, *rest = line.decode().split()
            port = int(port_text)
            if verb == "set":
                settings[port][rest[0]] = float(rest[1])
            elif verb == "down" and port in servers:
                servers.pop(port).close()
                for writer in list(writers[port]):
                    writer.close()
            elif verb == "up" and port not in servers:
                await listen(port)
            sys.stdout.write("ok\n")
            sys.stdout.flush()
        stop.set()

    task = asyncio.ensure_future(commands())
    await stop.wait()
    task.cancel()
    for server in servers.values():
        server.close()


if __name__ == "__main__":
    mode, *port_args = sys.argv[1:]
    if mode == "controlled":
        asyncio.run(_controlled([int(p) for p in port_args]))
        sys.exit(0)
    delay = float(mode.split("=")[1]) if mode.startswith("delay=") else 0.0
    asyncio.run(_serve([int(p) for p in port_args], delay))
