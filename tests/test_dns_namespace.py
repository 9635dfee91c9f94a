"""`jsonrest.dns` through the system resolver (getaddrinfo) against a real DNS
server whose A records change.

The system resolver asks only port 53 of the servers named in
/etc/resolv.conf, which a test must never change. So the outer test runs the
inner ones in a private mount and network namespace (`unshare`, as root):
there /etc/resolv.conf is a bind mount naming 127.0.0.1, and 127.0.0.1 is
that namespace's own loopback, where the DNS server and the JSON server
listen. Nothing outside the namespace is touched or reached. Without root
or `unshare`, the outer test is skipped, saying so.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

import jsonrest
from tests.servers import JSONServer

pytest.importorskip("dns", reason="the DNS server needs dnspython (jsonrest[dns])")

from tests.dnsserver import DNSServer  # after the skip: needs dnspython

INSIDE = os.environ.get("JSONREST_DNS_NAMESPACE") == "1"
NAME = "search.jsonrest.test"


def test_dns_follows_a_records_of_a_real_dns_server(tmp_path: Path) -> None:
    if INSIDE:
        pytest.skip("the outer test: runs the inner ones")
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("needs root, unshare and ip for a private mount+net namespace")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:2\n")
    here = Path(__file__)
    resolv_path, python, test = map(
        shlex.quote, (str(resolv), sys.executable, str(here))
    )
    script = (
        f"ip link set lo up && mount --bind {resolv_path} /etc/resolv.conf && "
        f"exec {python} -m pytest -q -p no:cacheprovider {test} -k inside"
    )
    done = subprocess.run(
        ["unshare", "--mount", "--net", "sh", "-c", script],
        cwd=here.parent.parent,
        env={**os.environ, "JSONREST_DNS_NAMESPACE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0 and "unshare failed" in done.stderr:
        pytest.skip(f"no private namespace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout, done.stdout


inside = pytest.mark.skipif(not INSIDE, reason="runs in a private namespace only")


def wait_for(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "still false"
        time.sleep(0.01)


@pytest.fixture
def world() -> Iterator[tuple[DNSServer, JSONServer]]:
    with DNSServer(port=53) as dns, JSONServer() as server:
        dns.set(NAME, "A", ["127.0.0.1"])
        dns.set(NAME, "AAAA", [])
        yield dns, server


@inside
def test_inside_blocking(world: tuple[DNSServer, JSONServer]) -> None:
    dns, server = world
    member = f"127.0.0.1:{server.port}"
    source = jsonrest.dns(f"{NAME}:{server.port}")
    with jsonrest.Resources(
        discover=source, refresh=0.1, min_refresh=0.05, allow_empty=True
    ) as cluster:
        assert list(cluster) == [f"http://{member}"]
        echo = cluster.unicast("GET", "/echo")()
        assert echo["headers"]["host"] == f"{NAME}:{server.port}"
        dns.forget(NAME)
        wait_for(lambda: list(cluster) == [])
        dns.set(NAME, "A", ["127.0.0.1"])
        wait_for(lambda: list(cluster) == [f"http://{member}"])
        assert cluster.unicast("GET", "/echo").status == 200


@inside
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_inside_awaitable(world: tuple[DNSServer, JSONServer], backend: str) -> None:
    dns, server = world
    source = jsonrest.dns(f"{NAME}:{server.port}")
    member = f"http://127.0.0.1:{server.port}"

    async def main() -> None:
        with anyio.fail_after(10):
            await follow()

    async def follow() -> None:
        async with jsonrest.AsyncResources(
            discover=source, refresh=0.1, min_refresh=0.05, allow_empty=True
        ) as cluster:
            assert list(cluster) == [member]
            dns.forget(NAME)
            while list(cluster):
                await anyio.sleep(0.01)
            dns.set(NAME, "A", ["127.0.0.1"])
            while list(cluster) != [member]:
                await anyio.sleep(0.01)
            assert (await cluster.unicast("GET", "/echo")).status == 200

    anyio.run(main, backend=backend)
