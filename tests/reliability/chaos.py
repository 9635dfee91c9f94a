"""A small cluster of JSON servers behind fault proxies, and its bookkeeping."""

from __future__ import annotations

import collections
import multiprocessing
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from tests.reliability.proxy import FaultProxy
from tests.servers import JSONServer

#: The fault mix of the campaign: mostly healthy, every fault present.
WEIGHTS = {
    "none": 0.86,
    "refuse": 0.02,
    "reset_before": 0.02,
    "reset_after": 0.02,
    "truncate": 0.02,
    "stall": 0.01,
    "busy": 0.03,
    "garbage": 0.02,
}
#: The soak's mix adds bodies dribbled past the deadline. Each holds a caller
#: for the whole deadline, too slow for the short campaign (which leaves the
#: deadline to tests/reliability/test_proxy.py).
SOAK_WEIGHTS = {**WEIGHTS, "dribble": 0.003}


class _Chaos:
    """The servers and proxies themselves; lives in the child process."""

    def __init__(self, size: int, seed: int, weights: Mapping[str, float]) -> None:
        self.seed = seed
        self.weights = dict(weights)
        self.servers = [JSONServer() for _ in range(size)]
        self.proxies: list[FaultProxy | None] = [
            FaultProxy(srv.port, weights, seed=seed + i)
            for i, srv in enumerate(self.servers)
        ]
        self.ports = [proxy.port for proxy in self.proxies if proxy is not None]
        self.injected: collections.Counter[str] = collections.Counter()
        self.kills = 0

    def kill(self, index: int) -> None:
        proxy, self.proxies[index] = self.proxies[index], None
        if proxy is not None:
            proxy.stop()
            self.injected.update(proxy.injected)
            self.kills += 1

    def restart(self, index: int) -> None:
        if self.proxies[index] is None:
            self.proxies[index] = FaultProxy(
                self.servers[index].port,
                self.weights,
                seed=self.seed + 100 * (self.kills + 1) + index,
                port=self.ports[index],
            )

    def total_injected(self) -> dict[str, int]:
        total = collections.Counter(self.injected)
        for proxy in self.proxies:
            if proxy is not None:
                total.update(proxy.injected)
        return dict(total)

    def ids(self, idents: list[str]) -> list[int]:
        return [sum(srv.ids[i] for srv in self.servers) for i in idents]

    def stop(self) -> None:
        for index in range(len(self.proxies)):
            self.kill(index)
        for srv in self.servers:
            srv.stop()


def _serve(conn: Connection, size: int, seed: int, weights: dict[str, float]) -> None:
    """The child process: run a `_Chaos` and answer the parent's commands."""
    chaos = _Chaos(size, seed, weights)
    conn.send(chaos.ports)
    deadline = time.monotonic() + 3600  # bounded even if the parent vanishes
    try:
        while time.monotonic() < deadline:
            if not conn.poll(1.0):
                continue
            command, *args = conn.recv()
            if command == "stop":
                break
            conn.send(getattr(chaos, command)(*args))
    except (EOFError, OSError):
        pass
    finally:
        chaos.stop()
        conn.close()


class ChaosCluster:
    """`size` JSON servers, each behind a `FaultProxy`; hosts can die and return.

    They run in a child process, so that their threads, sockets and garbage
    never mix with the client's under test (whose leaks the campaign counts).
    """

    def __init__(
        self, size: int, seed: int, weights: Mapping[str, float] = WEIGHTS
    ) -> None:
        self.seed = seed
        self.kills = 0
        self._lock = threading.Lock()
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, size, seed, dict(weights)), daemon=True
        )
        self._process.start()
        child.close()
        if not self._conn.poll(30):
            self._process.kill()
            raise RuntimeError("chaos cluster did not start")
        self.ports: list[int] = self._conn.recv()
        self.hosts = [f"127.0.0.1:{port}" for port in self.ports]

    def _call(self, *command: Any) -> Any:
        with self._lock:
            self._conn.send(command)
            if not self._conn.poll(30):
                raise RuntimeError(f"chaos cluster did not answer {command[0]}")
            return self._conn.recv()

    def kill(self, index: int) -> None:
        """Stop host `index`: its port refuses connections until `restart`."""
        self._call("kill", index)
        self.kills += 1

    def restart(self, index: int) -> None:
        """Bring host `index` back on the same port."""
        self._call("restart", index)

    def injected(self) -> collections.Counter[str]:
        """Faults injected so far, by kind."""
        return collections.Counter(self._call("total_injected"))

    def ids(self, idents: list[str]) -> list[int]:
        """How many times the servers received each request id."""
        return list(self._call("ids", idents))

    def stop(self) -> None:
        """Stop every server and proxy, and the child process."""
        with self._lock:
            try:
                self._conn.send(("stop",))
            except OSError:
                pass
        self._process.join(15)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._conn.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def settle(measure: Any, baseline: int, timeout: float = 5.0) -> int:
    """Wait until `measure()` is back to `baseline` (or time runs out)."""
    deadline = time.monotonic() + timeout
    value = measure()
    while value > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
        value = measure()
    return int(value)


@dataclass
class Report:
    """What a campaign did and saw."""

    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    problems: list[str] = field(default_factory=list)
    posts: list[str] = field(default_factory=list)
    targets: int = 0  # host requests a broadcast or multicast made
    slowest: float = 0.0

    def table(
        self,
        cluster: ChaosCluster,
        injected: collections.Counter[str],
        attempts: int,
        seconds: float,
        label: str,
    ) -> str:
        unicasts = sum(
            n for kind, n in self.calls.items() if kind.startswith("unicast")
        )
        lines = [
            f"### {label}: {sum(self.calls.values())} calls in {seconds:.1f} s",
            "",
            "| what | count |",
            "|---|---:|",
        ]
        lines += [f"| calls: {k} | {v} |" for k, v in sorted(self.calls.items())]
        lines += [
            f"| faults injected: {k} | {v} |" for k, v in sorted(injected.items())
        ]
        lines.append(f"| hosts killed and restarted | {cluster.kills} |")
        lines.append(
            f"| attempts beyond the first (failovers) | "
            f"{attempts - unicasts - self.targets} |"
        )
        lines += [f"| outcome: {k} | {v} |" for k, v in sorted(self.outcomes.items())]
        lines += [f"| error: {k} | {v} |" for k, v in sorted(self.errors.items())]
        lines.append(f"| slowest call (s) | {self.slowest:.2f} |")
        lines.append(f"| problems | {len(self.problems)} |")
        return "\n".join(lines) + "\n"
