"""AsyncResource against a real HTTP/1.1 server on 127.0.0.1."""

from __future__ import annotations

from functools import partial

import httpx
import pytest

import jsonrest
from jsonrest import AsyncResource
from jsonrest._concurrency import AsyncWorkers
from tests.servers import ClosedPort, Closer, JSONServer, wait_until

# Every test runs on the direct path and through httpx's client layer.
pytestmark = pytest.mark.usefixtures("both_paths")


@pytest.mark.anyio
async def test_get_sends_params_and_decodes_json(server: JSONServer) -> None:
    async with AsyncResource(server.host) as resource:
        echo = await resource.get("/items", a=1, b=["x", "y"])
    assert echo["method"] == "GET"
    assert echo["path"] == "/items"
    assert echo["query"] == {"a": ["1"], "b": ["x", "y"]}


@pytest.mark.anyio
async def test_body_is_sent_as_json(server: JSONServer) -> None:
    async with AsyncResource(f"http://{server.host}") as resource:
        for method in (resource.post, resource.put, resource.patch):
            echo = await method("/things", {"name": "é", "n": [1, 2]}, q="1")
            assert echo["body"] == {"name": "é", "n": [1, 2]}
            assert echo["headers"]["content-type"] == "application/json"
            assert echo["query"] == {"q": ["1"]}
        echo = await resource.delete("/things/1")
        assert echo["method"] == "DELETE"
        assert echo["body"] is None


@pytest.mark.anyio
async def test_request_returns_response_without_raising(server: JSONServer) -> None:
    async with AsyncResource(server.host) as resource:
        ok = await resource.request("GET", "/echo", headers={"X-Trace": "t1"})
        missing = await resource.request("GET", "/status/404")
    assert ok
    assert ok.status == 200
    assert ok.reason == "OK"
    assert ok.host == server.host
    assert ok.elapsed > 0
    assert ok.headers["content-type"] == "application/json"
    assert ok()["headers"]["x-trace"] == "t1"
    assert not missing
    assert missing.status == 404
    with pytest.raises(jsonrest.StatusError) as info:
        missing()
    assert info.value.status == 404
    assert info.value.body == {"status": 404, "host": server.host}
    assert info.value.response is missing


@pytest.mark.anyio
async def test_calls_raise_status_error(server: JSONServer) -> None:
    async with AsyncResource(server.host) as resource:
        with pytest.raises(jsonrest.StatusError) as info:
            await resource.get("/status/503")
        assert info.value.status == 503
        assert info.value.reason == "Service Unavailable"
        with pytest.raises(jsonrest.StatusError):
            await resource("POST", "/status/400", {"a": 1})


@pytest.mark.anyio
async def test_bodies_by_content_type(server: JSONServer) -> None:
    async with AsyncResource(server.host) as resource:
        assert await resource.get("/gzip") == {"gzip": True, "host": server.host}
        assert await resource.get("/text") == "héllo"
        assert await resource.get("/empty") is None
        assert await resource.get("/empty/204") is None
        with pytest.raises(jsonrest.DecodeError) as info:
            await resource.get("/badjson")
        assert info.value.host == server.host
        assert info.value.status == 200
        assert server.host in str(info.value)


@pytest.mark.anyio
async def test_connection_closed_without_reply(server: JSONServer) -> None:
    async with AsyncResource(server.host) as resource:
        with pytest.raises(jsonrest.TransportError) as info:
            await resource.post("/drop", {"n": 1})
        assert info.value.host == server.host
        assert isinstance(info.value.__cause__, httpx.TransportError)
        # The Resource stays usable.
        assert (await resource.get("/echo"))["method"] == "GET"


@pytest.mark.anyio
async def test_refused_and_closed_connections(
    closed_port: ClosedPort, closer: Closer
) -> None:
    for host in (closed_port.host, closer.host):
        async with AsyncResource(host) as resource:
            with pytest.raises(jsonrest.TransportError) as info:
                await resource.get("/echo")
            assert info.value.host == host
            assert info.value.hosts == (host,)


@pytest.mark.anyio
async def test_timeout(server: JSONServer) -> None:
    async with AsyncResource(server.host, timeout=0.2) as resource:
        with pytest.raises(jsonrest.Timeout) as info:
            await resource.get("/sleep/1")
        assert isinstance(info.value, jsonrest.TransportError)
        assert isinstance(info.value.__cause__, httpx.ReadTimeout)


@pytest.mark.anyio
async def test_connections_are_reused(server: JSONServer) -> None:
    async with AsyncResource(server.host) as resource:
        for _ in range(5):
            await resource.get("/echo")
    assert server.connections == 1


@pytest.mark.anyio
async def test_limit_zero_opens_a_connection_per_request(server: JSONServer) -> None:
    async with AsyncResource(server.host, limit=0) as resource:
        for _ in range(5):
            await resource.get("/echo")
    assert server.connections == 5


@pytest.mark.anyio
async def test_bursts_are_not_capped_and_reuse_up_to_limit_connections(
    server: JSONServer,
) -> None:
    async with AsyncResource(server.host, limit=8) as resource:
        # Long enough that all 12 overlap even on a loaded machine.
        burst = [partial(resource.get, "/sleep/0.5") for _ in range(12)]
        assert all(isinstance(r, dict) for r in await AsyncWorkers(12).gather(burst))
        assert server.peak == 12  # spreading over lanes does not cap concurrency
        assert server.connections == 12
        wait_until(lambda: server.open_connections <= 8)
        burst = [partial(resource.get, "/sleep/0.2") for _ in range(8)]
        assert all(isinstance(r, dict) for r in await AsyncWorkers(8).gather(burst))
        assert server.connections == 12  # the 8 kept alive served the next burst


@pytest.mark.anyio
async def test_max_body(server: JSONServer) -> None:
    async with AsyncResource(server.host, max_body=100) as resource:
        assert len(await resource.get("/big/100")) == 100
        with pytest.raises(jsonrest.BodyTooLarge) as info:
            await resource.get("/big/101")
        assert info.value.host == server.host


@pytest.mark.anyio
async def test_bad_input_fails_before_any_traffic(server: JSONServer) -> None:
    async with AsyncResource(server.host) as resource:
        for path in ("http://example.com/x", "//example.com/x", "x", "/\\evil", ""):
            with pytest.raises(ValueError, match="path"):
                await resource.get(path)
        with pytest.raises(TypeError, match="JSON"):
            await resource.post("/echo", {"s": {1, 2}})
        with pytest.raises(TypeError, match="JSON"):
            await resource.post("/echo", float("nan"))
        with pytest.raises(ValueError, match="header"):
            await resource.request("GET", "/echo", headers={"X-A": "a\r\nX-B: b"})
        with pytest.raises(ValueError, match="method"):
            await resource.request("GE T", "/echo")
    assert server.requests == []


@pytest.mark.anyio
async def test_client_options_pass_through(server: JSONServer) -> None:
    seen = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async with AsyncResource(
        server.host, headers={"X-Default": "d"}, event_hooks={"request": [hook]}
    ) as resource:
        echo = await resource.get("/echo")
    assert echo["headers"]["x-default"] == "d"
    assert seen == ["/echo"]


@pytest.mark.anyio
async def test_closed_resource_refuses_calls(server: JSONServer) -> None:
    resource = AsyncResource(server.host)
    await resource.get("/echo")
    await resource.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await resource.get("/echo")


@pytest.mark.anyio
async def test_max_in_flight_caps_concurrent_requests(server: JSONServer) -> None:
    async with AsyncResource(server.host, max_in_flight=2) as resource:
        calls = [partial(resource.get, "/sleep/0.1") for _ in range(6)]
        results = await AsyncWorkers(6).gather(calls)
    assert all(isinstance(r, dict) for r in results)
    assert server.peak == 2


@pytest.mark.anyio
async def test_waiting_for_a_turn_is_bounded_by_the_pool_timeout(
    server: JSONServer,
) -> None:
    timeout = httpx.Timeout(5.0, pool=0.05)
    async with AsyncResource(server.host, max_in_flight=1, timeout=timeout) as resource:
        calls = [partial(resource.get, "/sleep/0.5") for _ in range(2)]
        results = await AsyncWorkers(2).gather(calls)
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1
    assert isinstance(errors[0], jsonrest.Timeout)
    assert isinstance(errors[0].__cause__, httpx.PoolTimeout)
    assert len(server.requests) == 1


@pytest.mark.anyio
async def test_response_has_what_an_httpx_user_reaches_for(server: JSONServer) -> None:
    async with AsyncResource(server.host) as resource:
        ok = await resource.request("GET", "/echo", params={"token": "s3cret"})
        missing = await resource.request("DELETE", "/status/404")
    assert ok.status_code == ok.status == 200
    assert ok.is_success
    assert ok.content == ok.body
    assert ok.text == ok.body.decode()
    assert ok.json() == ok() == ok.value
    assert ok.raise_for_status() is ok
    assert isinstance(ok.elapsed, float)
    assert (ok.method, ok.path) == ("GET", "/echo")  # never the query
    assert (missing.method, missing.path, missing.status_code) == (
        "DELETE",
        "/status/404",
        404,
    )
    assert not missing.is_success
    with pytest.raises(jsonrest.StatusError) as info:
        missing.raise_for_status()
    assert info.value.response is missing


@pytest.mark.anyio
async def test_json_decodes_whatever_the_content_type(server: JSONServer) -> None:
    async with AsyncResource(server.host) as resource:
        # etcd's /health answers JSON as text/plain.
        health = await resource.request(
            "GET", "/answer/200", params={"say": '{"health":"true"}'}
        )
        text = await resource.request("GET", "/text")
    assert health.headers["content-type"] == "text/plain"
    assert health() == '{"health":"true"}'
    assert health.json() == {"health": "true"}
    with pytest.raises(jsonrest.DecodeError) as info:
        text.json()
    assert (info.value.host, info.value.status) == (server.host, 200)
    assert str(info.value).startswith(f"GET /text: body from {server.host} ")
    assert "text/plain" in str(info.value)


@pytest.mark.anyio
async def test_status_error_names_the_request_and_what_the_host_said(
    server: JSONServer,
) -> None:
    etcd = '{"error":"etcdserver: key is not provided","code":3}'
    async with AsyncResource(server.host) as resource:
        with pytest.raises(jsonrest.StatusError) as info:
            await resource.get("/answer/400", say=etcd, type="application/json")
        response = await resource.request(
            "PUT", "/answer/503", params={"say": "upstream\r\nX-Injected: 1\x1b[2J"}
        )
    error = info.value
    assert str(error) == (
        f"GET /answer/400: 400 Bad Request from {server.host}:"
        " etcdserver: key is not provided"
    )
    assert (error.method, error.path, error.host) == ("GET", "/answer/400", server.host)
    with pytest.raises(jsonrest.StatusError) as info:
        response()
    assert str(info.value) == (
        f"PUT /answer/503: 503 Service Unavailable from {server.host}:"
        " upstream X-Injected: 1 [2J"
    )


@pytest.mark.anyio
async def test_transport_errors_name_the_request(
    server: JSONServer, closed_port: ClosedPort
) -> None:
    async with AsyncResource(closed_port.host) as resource:
        with pytest.raises(jsonrest.TransportError) as info:
            await resource.get("/items/1", token="s3cret")
    refused = str(info.value)
    assert refused.startswith(
        f"GET /items/1: ConnectError talking to {closed_port.host}"
    )
    assert "s3cret" not in refused
    async with AsyncResource(server.host, timeout=0.2) as resource:
        with pytest.raises(jsonrest.Timeout) as info:
            await resource.get("/sleep/1")
        assert str(info.value).startswith(
            f"GET /sleep/1: ReadTimeout talking to {server.host}"
        )
        with pytest.raises(jsonrest.DecodeError) as info:
            await resource.get("/badjson")
        assert str(info.value).startswith(
            f"GET /badjson: invalid JSON body from {server.host}"
        )
