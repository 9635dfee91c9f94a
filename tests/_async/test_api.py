"""The request API with httpx habits: per-call options are honoured or refused,
never sent as a query; inputs that would mean "everything" by accident fail."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Generator
from typing import Any

import httpx
import pytest

import jsonrest

from ..servers import JSONServer


@pytest.fixture
def server() -> Generator[JSONServer, None, None]:
    with JSONServer() as running:
        yield running


@pytest.fixture
async def api(server: JSONServer) -> AsyncIterator[jsonrest.AsyncResource]:
    async with jsonrest.AsyncResource(server.host, timeout=5.0) as resource:
        yield resource


@pytest.mark.anyio
async def test_per_call_headers_params_and_json_are_sent_as_meant(
    api: jsonrest.AsyncResource,
) -> None:
    echo = await api.get(
        "/echo",
        headers={"Authorization": "Bearer s3cret"},
        params={"a": "1"},
        q="plum",
    )
    assert echo["query"] == {"a": ["1"], "q": ["plum"]}
    assert echo["headers"]["authorization"] == "Bearer s3cret"
    posted = await api.post("/items", json={"name": "plum"}, headers={"X-A": "b"})
    assert posted["method"] == "POST"
    assert posted["body"] == {"name": "plum"}
    assert posted["query"] == {}
    assert posted["headers"]["x-a"] == "b"
    assert (await api.put("/items/7", {"n": 1}))["body"] == {"n": 1}
    assert (await api.patch("/items/7", json=[1, 2]))["body"] == [1, 2]
    deleted = await api.delete("/items/7", headers={"X-B": "c"})
    assert deleted["method"] == "DELETE"
    assert deleted["headers"]["x-b"] == "c"


@pytest.mark.anyio
async def test_content_is_sent_as_it_is(api: jsonrest.AsyncResource) -> None:
    echo = await api.post(
        "/raw", content=b"\x00\xffbytes", headers={"Content-Type": "x/y"}
    )
    assert echo["body"] == "\x00\xffbytes"  # the echo server decodes latin-1
    assert echo["headers"]["content-type"] == "x/y"
    text = await api.put("/raw", content="héllo")
    assert text["body"] == "héllo".encode().decode("latin-1")
    response = await api.request("POST", "/raw", content=b"abc")
    assert response()["body"] == "abc"


@pytest.mark.anyio
async def test_a_per_call_timeout_applies(server: JSONServer) -> None:
    async with jsonrest.AsyncResource(server.host, timeout=5.0) as api:
        with pytest.raises(jsonrest.Timeout):
            await api.get("/sleep/1", timeout=0.2)
        assert (await api.request("GET", "/sleep/0.1", timeout=None)).status == 200
        with pytest.raises(ValueError, match="timeout"):
            await api.get("/echo", timeout=float("inf"))


@pytest.mark.anyio
@pytest.mark.parametrize(
    "name", ["auth", "data", "files", "cookies", "follow_redirects", "extensions"]
)
async def test_httpx_request_options_are_never_sent_as_a_query(
    server: JSONServer, api: jsonrest.AsyncResource, name: str
) -> None:
    with pytest.raises(TypeError, match=f"{name}= is not a per-call option"):
        await api.get("/echo", **{name: ("u", "pw")})
    with pytest.raises(TypeError, match=f"{name}="):
        await api.post("/echo", {"a": 1}, **{name: "x"})
    assert server.requests == []  # refused before any traffic


@pytest.mark.anyio
async def test_a_body_given_twice_is_refused(api: jsonrest.AsyncResource) -> None:
    with pytest.raises(TypeError, match="not both"):
        await api.post("/echo", {"a": 1}, json={"b": 2})
    with pytest.raises(TypeError, match="not both"):
        await api.request("POST", "/echo", {"a": 1}, content=b"x")


@pytest.mark.anyio
async def test_resources_take_per_call_options(server: JSONServer) -> None:
    async with jsonrest.AsyncResources([server.host]) as cluster:
        response = await cluster.unicast(
            "POST",
            "/echo",
            json={"a": 1},
            headers={"X-C": "d"},
            params={"p": "1"},
            timeout=2.0,
        )
        echo = response()
        assert (echo["body"], echo["headers"]["x-c"], echo["query"]) == (
            {"a": 1},
            "d",
            {"p": ["1"]},
        )
        raw = await cluster.broadcast("PUT", "/echo", content=b"xyz")
        assert raw[0]()["body"] == "xyz"
        with pytest.raises(jsonrest.Timeout):
            await cluster.unicast("GET", "/sleep/1", timeout=0.2)


@pytest.mark.anyio
async def test_an_empty_host_list_means_none(server: JSONServer) -> None:
    async with jsonrest.AsyncResources([server.host]) as cluster:
        assert await cluster.broadcast("DELETE", "/items", hosts=[]) == []
        with pytest.raises(jsonrest.NoHostAvailable):
            await cluster.unicast("DELETE", "/items", hosts=[])
        assert server.requests == []
        everyone = await cluster.broadcast("GET", "/echo", hosts=None)
        assert [r.host for r in everyone] == [server.host]


@pytest.mark.anyio
async def test_a_path_is_never_looked_up_as_a_host(server: JSONServer) -> None:
    async with jsonrest.AsyncResources([server.host]) as cluster:
        with pytest.raises(TypeError, match="unicast"):
            cluster.get("/items/1")
        assert cluster.get(server.host) is cluster[server.host]
        assert cluster.get("other:1") is None
    async with jsonrest.AsyncShards([(server.host, "users")]) as shards:
        with pytest.raises(TypeError, match="unicast"):
            shards.get("/items/1")
        assert shards.get("users") == {server.host}
    assert server.requests == []


@pytest.mark.anyio
async def test_shards_refuse_slips_clearly(server: JSONServer) -> None:
    with pytest.raises(ValueError, match="looks swapped"):
        jsonrest.AsyncShards([("users", server.host)])
    async with jsonrest.AsyncShards([(server.host, "users")]) as shards:
        with pytest.raises(TypeError, match=r"pass \['users'\]"):
            await shards.multicast("users", "GET", "/echo")  # type: ignore[arg-type]
        with pytest.raises(KeyError, match="no host holds key 'orders'"):
            await shards.multicast(["orders"], "GET", "/echo")
        with pytest.raises(KeyError, match="no host holds key"):
            await shards.unicast("orders", "GET", "/echo")
    assert server.requests == []


def test_httpx_limits_are_honoured() -> None:
    resource = jsonrest.AsyncResource(
        "h:1",
        limits=httpx.Limits(
            max_connections=6, max_keepalive_connections=5, keepalive_expiry=7.0
        ),
    )
    options: Any = resource._client_options()
    assert options["limits"].max_keepalive_connections == 5
    assert options["limits"].keepalive_expiry == 7.0
    assert resource._lanes == (2, 2, 1)  # lanes of at most 2 holding the 5
    assert resource._gate is not None
    assert resource._gate.limit == 6  # max_connections caps requests in flight
    with pytest.raises(TypeError, match="not both"):
        jsonrest.AsyncResource("h:1", limit=3, limits=httpx.Limits())
    with pytest.raises(TypeError, match=r"httpx\.Limits"):
        jsonrest.AsyncResource("h:1", limits={"max_connections": 3})


def test_defaults_show_by_name() -> None:
    for method in (jsonrest.AsyncResources.unicast, jsonrest.AsyncResources.broadcast):
        default = inspect.signature(method).parameters["deadline"].default
        assert repr(default) == "DEFAULT"
    shown = str(inspect.signature(jsonrest.AsyncResources.unicast))
    assert shown.endswith("= DEFAULT) -> 'Response'")
    assert "object at 0x" not in shown
