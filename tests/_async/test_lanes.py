"""AsyncLanes: which lane takes a request, and that every lane is freed."""

from __future__ import annotations

import httpx
import pytest

from jsonrest._async._lanes import AsyncLanes


class _Lanes:
    """Mock lanes whose handler records how busy the lanes are during a send.

    `/nest/N` sends `/nest/N-1` through the same client before answering, so
    N + 1 requests are in flight at once, each on the least busy lane.
    """

    def __init__(
        self,
        keepalive: tuple[int, ...],
        transport: type[httpx.MockTransport] = httpx.MockTransport,
    ) -> None:
        self.transport = transport
        self.made: list[int] = []
        self.seen: list[list[int]] = []
        self.lanes = AsyncLanes(self._make, keepalive)
        self.client = httpx.AsyncClient(transport=self.lanes)

    def _make(self, keepalive: int) -> httpx.MockTransport:
        self.made.append(keepalive)
        return self.transport(self._handle)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(self.lanes.busy())
        parts = request.url.path.split("/")
        if parts[1] == "fail":
            raise httpx.ConnectError("refused", request=request)
        if parts[1] == "nest" and int(parts[2]):
            await self.client.get(f"http://h/nest/{int(parts[2]) - 1}")
        return httpx.Response(200, json={})


@pytest.mark.anyio
async def test_idle_traffic_stays_on_the_first_lane() -> None:
    mock = _Lanes((2, 2, 1))
    async with mock.client:
        for _ in range(5):
            assert (await mock.client.get("http://h/x")).json() == {}
    assert mock.seen == [[1, 0, 0]] * 5
    assert mock.lanes.busy() == [0, 0, 0]
    assert mock.made == [2]  # the other lanes were never needed


@pytest.mark.anyio
async def test_concurrent_requests_take_the_least_busy_lane() -> None:
    mock = _Lanes((2, 1))
    async with mock.client:
        await mock.client.get("http://h/nest/3")
    assert mock.seen == [[1, 0], [1, 1], [2, 1], [2, 2]]
    assert mock.lanes.busy() == [0, 0]
    assert mock.made == [2, 1]


@pytest.mark.anyio
async def test_a_failed_send_frees_its_lane() -> None:
    mock = _Lanes((1, 1))
    async with mock.client:
        with pytest.raises(httpx.ConnectError):
            await mock.client.get("http://h/fail")
    assert mock.lanes.busy() == [0, 0]


@pytest.mark.anyio
async def test_closing_closes_every_lane_made() -> None:
    closed = []

    class Transport(httpx.MockTransport):
        async def aclose(self) -> None:
            closed.append(self)

    mock = _Lanes((1, 1, 1), Transport)
    async with mock.client:
        await mock.client.get("http://h/nest/1")
    assert len(closed) == 2


def test_no_lanes_is_refused() -> None:
    with pytest.raises(ValueError, match="lane"):
        AsyncLanes(httpx.MockTransport, ())
