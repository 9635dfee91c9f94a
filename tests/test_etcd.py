"""Sniffing a real etcd cluster (Debian's etcd-server) on 127.0.0.1: jsonrest
follows etcd's own member list as a member joins and another leaves, on the
blocking twin, asyncio and trio.

Skipped, saying so, where no `etcd` binary is installed (CI installs it).
"""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import jsonrest

ETCD = shutil.which("etcd")
pytestmark = pytest.mark.skipif(
    ETCD is None, reason="no etcd binary: apt-get install etcd-server"
)
LOCALHOST = "127.0.0.1"
START = 20.0  # seconds a member may take to serve


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


class Member:
    def __init__(self, name: str) -> None:
        self.name = name
        self.client = f"http://{LOCALHOST}:{free_port()}"
        self.peer = f"http://{LOCALHOST}:{free_port()}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, root: Path, cluster: list[Member], state: str) -> None:
        assert ETCD is not None
        self.process = subprocess.Popen(
            [
                ETCD,
                f"--name={self.name}",
                f"--data-dir={root / self.name}",
                f"--listen-client-urls={self.client}",
                f"--advertise-client-urls={self.client}",
                f"--listen-peer-urls={self.peer}",
                f"--initial-advertise-peer-urls={self.peer}",
                "--initial-cluster=" + ",".join(f"{m.name}={m.peer}" for m in cluster),
                f"--initial-cluster-state={state}",
                "--initial-cluster-token=jsonrest-test",
                "--heartbeat-interval=50",
                "--election-timeout=500",
                "--logger=zap",
                "--log-level=error",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class Cluster:
    """etcd members on 127.0.0.1; `join` and `leave` change it as etcd does."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.members = [Member(f"m{i}") for i in range(3)]
        self.count = 3
        for member in self.members:
            member.start(root, self.members, "new")
        self.admin = jsonrest.Resources(
            [m.client for m in self.members], timeout=5, retries=3
        )
        wait(lambda: len(self.listed()) == 3, START)

    def listed(self) -> list[str]:
        """Client URLs of the members etcd lists (started ones only)."""
        try:
            body = self.admin.unicast("POST", "/v3/cluster/member/list", {})()
        except jsonrest.Error:
            return []
        return client_urls(body)

    def join(self) -> Member:
        member = Member(f"m{self.count}")
        self.count += 1
        # etcd refuses a new member until its members have been connected a
        # while ("unhealthy cluster"): ask again until it takes it.
        deadline = time.monotonic() + START
        while True:
            response = self.admin.unicast(
                "POST", "/v3/cluster/member/add", {"peerURLs": [member.peer]}
            )
            if response or time.monotonic() > deadline:
                response.raise_for_status()
                break
            time.sleep(0.2)
        self.members.append(member)
        member.start(self.root, self.members, "existing")
        self.admin.add(member.client)
        return member

    def leave(self, member: Member) -> None:
        body = self.admin.unicast("POST", "/v3/cluster/member/list", {})()
        (found,) = [m["ID"] for m in body["members"] if m.get("name") == member.name]
        # etcd refuses to remove a member too soon after one joined ("unhealthy
        # cluster", 503) on a loaded machine: ask again until it does. A 404
        # ("member not found") says an earlier try took effect after all (a
        # 503 from one member while another applied it).
        deadline = time.monotonic() + START
        while True:
            response = self.admin.unicast(
                "POST", "/v3/cluster/member/remove", {"ID": found}, idempotent=True
            )
            if response or response.status == 404:
                break
            if time.monotonic() > deadline:
                response.raise_for_status()
            time.sleep(0.2)
        self.members.remove(member)
        self.admin.discard(member.client)
        member.stop()

    def stop(self) -> None:
        self.admin.close()
        for member in self.members:
            member.stop()


def client_urls(body: Any) -> list[str]:
    """etcd's member list: every started member's client URLs."""
    return [url for member in body["members"] for url in member.get("clientURLs", [])]


def wait(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "still false"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("etcd"))
    try:
        yield cluster
    finally:
        cluster.stop()


SNIFF = jsonrest.sniff("POST", "/v3/cluster/member/list", client_urls, json={})
KEY = {"key": base64.b64encode(b"jsonrest").decode()}


def change(etcd: Cluster, follows: Callable[[set[str]], None]) -> None:
    """A member joins, then the oldest leaves; `follows` checks the client."""
    etcd.join()
    wait(lambda: len(etcd.listed()) == 4, START)
    follows({m.client for m in etcd.members})
    etcd.leave(etcd.members[0])
    follows({m.client for m in etcd.members})


def test_blocking_twin_follows_etcd(etcd: Cluster) -> None:
    with jsonrest.Resources(
        [etcd.members[0].client], discover=SNIFF, refresh=0.2, min_refresh=0.05
    ) as client:
        assert set(client) == {m.client for m in etcd.members}

        def follows(expected: set[str]) -> None:
            wait(lambda: set(client) == expected)
            for _ in range(5):
                client.unicast("POST", "/v3/kv/range", KEY, idempotent=True)()

        change(etcd, follows)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_awaitable_twin_follows_etcd(etcd: Cluster, backend: str) -> None:
    seen: list[set[str]] = []

    async def main() -> None:
        async with jsonrest.AsyncResources(
            [etcd.members[0].client], discover=SNIFF, refresh=0.2, min_refresh=0.05
        ) as client:
            seen.append(set(client))
            done = False

            async def traffic() -> None:
                while not done:
                    await client.unicast("POST", "/v3/kv/range", KEY, idempotent=True)
                    await anyio.sleep(0.02)

            async with anyio.create_task_group() as group:
                group.start_soon(traffic)

                def follows(expected: set[str]) -> None:
                    anyio.from_thread.run(until, lambda: set(client) == expected)

                await anyio.to_thread.run_sync(change, etcd, follows)
                done = True
            seen.append(set(client))

    async def until(condition: Callable[[], bool]) -> None:
        with anyio.fail_after(10):
            while not condition():
                await anyio.sleep(0.02)

    first = {m.client for m in etcd.members}
    anyio.run(main, backend=backend)
    assert seen == [first, {m.client for m in etcd.members}]
