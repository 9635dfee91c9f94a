"""AsyncLanes: which lane takes a request, and that every lane is freed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from jsonrest._async._lanes import AsyncLanes


class _Body(httpx.AsyncByteStream):
    """A body read from the lane, as a real transport's is: not pre-read."""

    def __init__(self, content: bytes) -> None:
        self.content = content

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.content


def _ok(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/fail":
        raise httpx.ConnectError("refused", request=request)
    return httpx.Response(200, stream=_Body(request.url.path.encode()))


class _Made:
    """Builds mock lanes, remembering each lane's keep-alive share."""

    def __init__(self) -> None:
        self.keepalive: list[int] = []

    def __call__(self, keepalive: int) -> httpx.MockTransport:
        self.keepalive.append(keepalive)
        return httpx.MockTransport(_ok)


async def _open(client: httpx.AsyncClient, path: str) -> httpx.Response:
    """Send a GET whose body stays unread, holding its lane until closed."""
    return await client.send(
        client.build_request("GET", "http://h" + path), stream=True
    )


@pytest.mark.anyio
async def test_idle_traffic_stays_on_the_first_lane() -> None:
    made = _Made()
    lanes = AsyncLanes(made, (2, 2, 1))
    async with httpx.AsyncClient(transport=lanes) as client:
        for _ in range(5):
            assert (await client.get("http://h/x")).content == b"/x"
            assert lanes.busy() == [0, 0, 0]
    assert made.keepalive == [2]  # the other lanes were never needed


@pytest.mark.anyio
async def test_open_responses_spread_over_lanes_and_free_them_once() -> None:
    made = _Made()
    lanes = AsyncLanes(made, (2, 1))
    async with httpx.AsyncClient(transport=lanes) as client:
        first = await client.send(
            client.build_request("GET", "http://h/1"), stream=True
        )
        assert lanes.busy() == [1, 0]
        second = await client.send(
            client.build_request("GET", "http://h/2"), stream=True
        )
        assert lanes.busy() == [1, 1]
        third = await client.send(
            client.build_request("GET", "http://h/3"), stream=True
        )
        assert lanes.busy() == [2, 1]
        assert made.keepalive == [2, 1]
        assert await first.aread() == b"/1"
        await first.aclose()
        await first.aclose()
        assert lanes.busy() == [1, 1]
        await second.aclose()
        await third.aclose()
        assert lanes.busy() == [0, 0]


@pytest.mark.anyio
async def test_a_failed_send_frees_its_lane() -> None:
    lanes = AsyncLanes(_Made(), (1, 1))
    async with httpx.AsyncClient(transport=lanes) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://h/fail")
        assert lanes.busy() == [0, 0]


@pytest.mark.anyio
async def test_closing_closes_every_lane_made() -> None:
    closed = []

    class Transport(httpx.MockTransport):
        async def aclose(self) -> None:
            closed.append(self)

    lanes = AsyncLanes(lambda keepalive: Transport(_ok), (1, 1, 1))
    async with httpx.AsyncClient(transport=lanes) as client:
        one = await _open(client, "/")
        await client.get("http://h/")
        await one.aclose()
    assert len(closed) == 2


@pytest.mark.anyio
async def test_a_body_read_whole_frees_its_lane_at_once() -> None:
    def whole(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={})  # read by httpx already

    lanes = AsyncLanes(lambda keepalive: httpx.MockTransport(whole), (1, 1))
    async with httpx.AsyncClient(transport=lanes) as client:
        response = await client.send(
            client.build_request("GET", "http://h/"), stream=True
        )
        assert lanes.busy() == [0, 0]
        await response.aclose()


def test_no_lanes_is_refused() -> None:
    with pytest.raises(ValueError, match="lane"):
        AsyncLanes(_Made(), ())
