"""The servers the benchmarks talk to, all on 127.0.0.1, all stopped at exit.

`StaticCluster` serves one small JSON file on several ports: nginx (Debian's
package, installed when missing and possible) or, failing that, a Python
server, which is then the bottleneck and the results say so.
`DelayCluster` answers every request after a fixed delay, from a separate
process so the client's measurements do not share its interpreter.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BODY = (
    b'{"id": 1, "name": "plum", "tags": ["a", "b", "c"], "price": 3.25, "stock": 12}\n'
)
LOCALHOST = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports of 127.0.0.1 (bound briefly, then released)."""
    socks = [socket.create_server((LOCALHOST, 0)) for _ in range(count)]
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def wait_for(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            socket.create_connection((LOCALHOST, port), 0.2),
        ):
            return
        time.sleep(0.02)
    raise RuntimeError(f"server on port {port} did not start")


def ensure_nginx() -> str | None:
    """The nginx binary, installing Debian's package if missing and allowed."""
    found = shutil.which("nginx") or (
        os.path.exists("/usr/sbin/nginx") and "/usr/sbin/nginx"
    )
    if found:
        return str(found)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "nginx-light"],
        ):
            subprocess.run(cmd, env=env, capture_output=True, timeout=300, check=False)
        found = shutil.which("nginx") or (
            os.path.exists("/usr/sbin/nginx") and "/usr/sbin/nginx"
        )
    return str(found) if found else None


class StaticCluster:
    """`count` ports serving BODY as application/json at /item.json."""

    def __init__(self, count: int, force_python: bool = False) -> None:
        self.ports = free_ports(count)
        self.hosts = [f"{LOCALHOST}:{p}" for p in self.ports]
        self._dir = Path(tempfile.mkdtemp(prefix="jsonrest-bench-"))
        self._dir.chmod(0o755)  # nginx workers run as an unprivileged user
        (self._dir / "item.json").write_bytes(BODY)
        nginx = None if force_python else ensure_nginx()
        self.kind = "nginx" if nginx else "python"
        if nginx:
            servers = "\n".join(
                f"  server {{ listen {LOCALHOST}:{p}; root {self._dir}; }}"
                for p in self.ports
            )
            conf = self._dir / "nginx.conf"
            conf.write_text(
                f"worker_processes 1;\npid {self._dir}/nginx.pid;\n"
                f"error_log {self._dir}/error.log;\ndaemon off;\n"
                "events { worker_connections 4096; }\n"
                "http {\n  access_log off;\n  keepalive_requests 1000000;\n"
                "  default_type application/json;\n  types { application/json json; }\n"
                f"{servers}\n}}\n"
            )
            self.version = subprocess.run(
                [nginx, "-v"], capture_output=True, text=True, check=False
            ).stderr.strip()
            self._proc = subprocess.Popen([nginx, "-c", str(conf)])
        else:
            self.version = f"python {sys.version.split()[0]} asyncio server"
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.servers",
                    "static",
                    *map(str, self.ports),
                ]
            )
        for port in self.ports:
            wait_for(port)

    def stop(self) -> None:
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
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
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.servers",
                f"delay={delay}",
                *map(str, self.ports),
            ]
        )
        for port in self.ports:
            wait_for(port)

    def stop(self) -> None:
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()

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
                request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
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
        finally:
            writer.close()

    servers = [
        await asyncio.start_server(handle, LOCALHOST, port, backlog=1024)
        for port in ports
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # Bounded in time even if the benchmark dies without stopping it.
    loop.call_later(3600, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


if __name__ == "__main__":
    mode, *port_args = sys.argv[1:]
    delay = float(mode.split("=")[1]) if mode.startswith("delay=") else 0.0
    asyncio.run(_serve([int(p) for p in port_args], delay))
