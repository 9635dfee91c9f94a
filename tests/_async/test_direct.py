"""The direct path and the client path send the same requests; which one a
resource takes, and what only the client path does."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

import jsonrest
from jsonrest import AsyncResource
from tests.servers import JSONServer


def recorder(seen: list[httpx.Request], **answer: Any) -> httpx.AsyncBaseTransport:
    """A mock transport that keeps each request and answers `answer`."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(**{"status_code": 200, "json": {}, **answer})

    return httpx.MockTransport(handle)


def shown(request: httpx.Request) -> tuple[Any, ...]:
    return (
        request.method,
        str(request.url),
        request.headers.multi_items(),
        request.content,
        request.extensions["timeout"],
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    "options", [{}, {"headers": {"X-Team": "a", "Accept": "x/y"}, "max_body": None}]
)
async def test_both_paths_send_the_same_request(options: dict[str, Any]) -> None:
    async def send_all(**more: Any) -> list[httpx.Request]:
        seen: list[httpx.Request] = []
        transport = recorder(seen)
        async with AsyncResource(
            "api.test:8080/v1", transport=transport, timeout=3, **options, **more
        ) as api:
            await api.get("/items", q="plum pie", n=[1, 2])
            await api.post("/items", {"name": "é"}, headers={"X-Team": "b"})
            await api.put("/items/1", content="raw", headers={"Content-Type": "t/p"})
            await api.request("DELETE", "/items/1", timeout=0.5)
            await api.request("GET", "/%7Eme?a=1", timeout=httpx.Timeout(1, read=2))
        return seen

    direct = await send_all()
    client = await send_all(event_hooks={})
    assert [shown(r) for r in direct] == [shown(r) for r in client]
    assert direct[0].extensions["timeout"] == httpx.Timeout(3).as_dict()
    assert direct[3].extensions["timeout"] == httpx.Timeout(0.5).as_dict()


@pytest.mark.anyio
@pytest.mark.parametrize("options", [{}, {"headers": {"Host": "front.test"}}])
async def test_both_paths_send_the_same_headers_as_they_change(
    options: dict[str, Any],
) -> None:
    # The direct path makes a bodyless request's headers once, and again only
    # when the client's change; bodyless POST, PUT and PATCH carry
    # Content-Length: 0, unless the call gives one.
    async def send_all(**more: Any) -> list[httpx.Request]:
        seen: list[httpx.Request] = []
        async with AsyncResource(
            "api.test:8080", transport=recorder(seen), **options, **more
        ) as api:
            await api.get("/a")
            api.client.headers["X-Late"] = "1"
            await api.get("/a")
            del api.client.headers["X-Late"]
            api.client.headers["Accept"] = "x/y"
            await api.get("/a")
            await api.request("POST", "/b")
            await api.request("PATCH", "/b", content=b"")
            await api.request("PUT", "/b", headers={"Content-Length": "0"})
            await api.request("GET", "/a", headers={"Host": "other.test"})
            await api.post("/b", {"n": 1}, headers={"Content-Length": "7"})
        return seen

    direct = await send_all()
    client = await send_all(event_hooks={})
    assert [shown(r) for r in direct] == [shown(r) for r in client]
    assert direct[1].headers["x-late"] == "1"
    assert "x-late" not in direct[2].headers
    assert direct[3].headers["content-length"] == "0"


class Inspecting(httpx.AsyncBaseTransport):
    """A caller's own transport that looks at `request.content` without
    reading the request first (httpx's MockTransport reads it for its
    handler, so would not tell)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(request.content)
        return httpx.Response(200, json={})


@pytest.mark.anyio
async def test_a_callers_transport_sees_the_request_content() -> None:
    transport = Inspecting()
    async with AsyncResource("api.test", transport=transport) as api:
        await api.get("/items")
        await api.post("/items", {"name": "plum"})
    assert transport.bodies == [b"", b'{"name":"plum"}']


@pytest.mark.anyio
async def test_a_transport_error_names_the_request_on_both_paths() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    for more in ({}, {"event_hooks": {}}):
        async with AsyncResource(
            "api.test", transport=httpx.MockTransport(refuse), **more
        ) as api:
            with pytest.raises(jsonrest.TransportError) as info:
                await api.get("/down")
        cause = info.value.__cause__
        assert isinstance(cause, httpx.ConnectError)
        assert str(cause.request.url) == "http://api.test/down"


@pytest.mark.anyio
async def test_event_hooks_select_the_client_path() -> None:
    hooked: list[str] = []

    async def hook(request: httpx.Request) -> None:
        hooked.append(request.url.path)

    seen: list[httpx.Request] = []
    async with AsyncResource(
        "api.test", transport=recorder(seen), event_hooks={"request": [hook]}
    ) as api:
        await api.get("/a")
    assert hooked == ["/a"]


@pytest.mark.anyio
async def test_only_the_client_path_keeps_cookies_a_host_sets() -> None:
    async def cookies_sent(**more: Any) -> list[str | None]:
        seen: list[httpx.Request] = []
        transport = recorder(seen, headers={"Set-Cookie": "session=s1; Path=/"})
        async with AsyncResource("api.test", transport=transport, **more) as api:
            await api.get("/a")
            await api.get("/b")
        return [request.headers.get("cookie") for request in seen]

    assert await cookies_sent() == [None, None]
    assert await cookies_sent(cookies={}) == [None, "session=s1"]


@pytest.mark.anyio
async def test_respx_mock_fixture_on_the_direct_path(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.get("http://api.test/items").respond(json=[1])
    async with AsyncResource("api.test") as api:
        assert await api.get("/items") == [1]
    assert route.call_count == 1


@pytest.mark.anyio
async def test_respx_using_httpx_needs_the_client_path() -> None:
    # respx's "httpx" mocker patches the client layer, which the direct path
    # skips: event_hooks={} selects the client path for it.
    with respx.mock(using="httpx") as router:
        route = router.get("http://api.test/items").respond(json=[2])
        async with AsyncResource("api.test", event_hooks={}) as api:
            assert await api.get("/items") == [2]
    assert route.call_count == 1


@pytest.mark.anyio
async def test_transport_none_is_httpx_default(server: JSONServer) -> None:
    for more in ({}, {"event_hooks": {}}):
        async with AsyncResource(server.host, transport=None, **more) as api:
            assert (await api.get("/echo"))["path"] == "/echo"
