"""Cancelling async calls (anyio scopes on asyncio and trio, asyncio tasks)."""

from __future__ import annotations

import asyncio
import time

import anyio
import pytest

from jsonrest import AsyncResources
from tests.servers import JSONServer


def hosts_of(servers: list[JSONServer]) -> list[str]:
    return [srv.host for srv in servers]


async def assert_still_usable(resources: AsyncResources) -> None:
    assert all(s["in_flight"] == 0 for s in resources.stats().values())
    assert all(s["state"] == "up" for s in resources.stats().values())
    assert (await resources.unicast("GET", "/echo")).status == 200
    assert len(await resources.broadcast("GET", "/echo")) == len(resources)


@pytest.mark.anyio
@pytest.mark.parametrize("call", ["unicast", "broadcast"])
async def test_cancel_scope_returns_promptly(
    servers: list[JSONServer], call: str
) -> None:
    async with AsyncResources(hosts_of(servers)) as resources:
        start = time.perf_counter()
        with anyio.move_on_after(0.1) as scope:
            await getattr(resources, call)("GET", "/sleep/2")
        assert scope.cancelled_caught
        assert time.perf_counter() - start < 0.5
        await assert_still_usable(resources)


@pytest.mark.anyio
async def test_cancelling_one_task_leaves_the_others(servers: list[JSONServer]) -> None:
    async with AsyncResources(hosts_of(servers)) as resources:
        results: list[int] = []

        async def fast() -> None:
            results.append((await resources.unicast("GET", "/sleep/0.2")).status)

        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(fast)
            with anyio.move_on_after(0.05):
                await resources.broadcast("GET", "/sleep/2")
        assert results == [200, 200, 200]
        await assert_still_usable(resources)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_asyncio_task_cancellation(servers: list[JSONServer]) -> None:
    async with AsyncResources(hosts_of(servers)) as resources:
        task = asyncio.ensure_future(resources.broadcast("GET", "/sleep/2"))
        await asyncio.sleep(0.1)
        task.cancel()
        start = time.perf_counter()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.perf_counter() - start < 0.5
        await assert_still_usable(resources)
