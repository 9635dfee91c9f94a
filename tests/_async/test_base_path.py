"""A host's base path, and the paths sent under it, against real servers.

`http://h:8080/api/v2` prefixes every path with `/api/v2`; no path may climb
out of it, and each path goes on the wire exactly as httpx would send it.
"""

from __future__ import annotations

import httpx
import pytest

import jsonrest
from jsonrest import AsyncResource, AsyncResources, AsyncShards
from tests.servers import ClosedPort, JSONServer


@pytest.mark.anyio
@pytest.mark.parametrize(
    "form", ["http://{}/api/v2", "http://{}/api/v2/", "{}/api/v2", "HTTP://{}/api/v2"]
)
async def test_a_base_path_prefixes_every_path(server: JSONServer, form: str) -> None:
    host = form.format(server.host)
    async with AsyncResource(host) as api:
        echo = await api.get("/items", q="plum")
        response = await api.request("POST", "/items/1", {"a": 1})
    assert (echo["path"], echo["query"]) == ("/api/v2/items", {"q": ["plum"]})
    assert response.value["path"] == "/api/v2/items/1"
    assert response.value["body"] == {"a": 1}
    # The host shows as given; the path as the caller gave it.
    assert response.host == host
    assert response.path == "/items/1"
    assert repr(api) == f"AsyncResource({host!r})"
    assert api.url == f"http://{server.host}/api/v2"


@pytest.mark.anyio
async def test_the_root_path_under_a_base_path(server: JSONServer) -> None:
    async with AsyncResource(f"http://{server.host}/api") as api:
        assert (await api.get("/"))["path"] == "/api/"
        assert (await api.get("/?x=1"))["query"] == {"x": ["1"]}


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path",
    [
        "/../admin",
        "/a/../../admin",
        "/./admin",
        "/%2e%2e/admin",
        "/%2E./admin",
        "/..%2fadmin",
        "/..%5cadmin",
        "/..;/admin",
        "//evil.example/x",
        "/\\evil.example/x",
        "http://evil.example/x",
        "admin",
    ],
)
async def test_no_path_leaves_the_base_path(server: JSONServer, path: str) -> None:
    async with AsyncResource(f"http://{server.host}/api") as api:
        with pytest.raises(ValueError, match="path"):
            await api.get(path)
    async with AsyncResources([f"http://{server.host}/api"]) as cluster:
        with pytest.raises(ValueError, match="path"):
            await cluster.unicast("GET", path)
        with pytest.raises(ValueError, match="path"):
            await cluster.broadcast("DELETE", path)
    assert server.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize("base", ["", "/api"])
@pytest.mark.parametrize(
    "path",
    [
        "/é/ü",
        "/日本?q=語",
        '/a"b/<c>/{d}/`e`',
        "/a|b^c[d]~e",
        '/f?x={y}&z=`w`&v="u"',
        "/%C3%A9/%2F?x=%26",
    ],
)
async def test_paths_arrive_as_httpx_sends_them(
    server: JSONServer, base: str, path: str
) -> None:
    async with httpx.AsyncClient() as plain:
        expected = (await plain.get(f"http://{server.host}{base}{path}")).json()
    async with AsyncResource(f"http://{server.host}{base}") as api:
        echo = await api.get(path)
        response = await api.request("GET", path)
    assert (echo["path"], echo["query"]) == (expected["path"], expected["query"])
    # The path arrives percent-encoded; the response and errors show it so.
    assert response.path == expected["path"][len(base) :]
    assert server.requests[-1] == ("GET", expected["path"])


@pytest.mark.anyio
async def test_bad_paths_are_refused_with_the_rule(server: JSONServer) -> None:
    async with AsyncResource(server.host) as api:
        with pytest.raises(ValueError, match="whitespace"):
            await api.get("/a b")
        with pytest.raises(ValueError, match="#fragment"):
            await api.get("/a#section")
        with pytest.raises(ValueError, match="%25"):
            await api.get("/50%")
    assert server.requests == []


@pytest.mark.anyio
async def test_each_host_of_a_cluster_has_its_base_path(
    servers: list[JSONServer],
) -> None:
    hosts = [
        f"http://{servers[0].host}/a",
        f"{servers[1].host}/b/c/",
        servers[2].host,
    ]
    async with AsyncResources(hosts) as cluster:
        assert list(cluster) == hosts
        responses = await cluster.broadcast("GET", "/x", params={"q": "1"})
        assert [r.value["path"] for r in responses] == ["/a/x", "/b/c/x", "/x"]
        assert [r.host for r in responses] == hosts
        one = await cluster.unicast("GET", "/y", hosts=[hosts[1]])
        assert (one.host, one.value["path"]) == (hosts[1], "/b/c/y")
        assert list(cluster.stats()) == hosts


@pytest.mark.anyio
async def test_shards_send_under_each_host_base_path(
    servers: list[JSONServer],
) -> None:
    hosts = [f"http://{servers[0].host}/s0", f"http://{servers[1].host}/s1"]
    async with AsyncShards([(hosts[0], "k"), (hosts[1], "k")]) as shards:
        responses = await shards.broadcast("k", "GET", "/doc")
    assert sorted(r.value["path"] for r in responses) == ["/s0/doc", "/s1/doc"]


@pytest.mark.anyio
async def test_errors_name_the_host_as_given(
    server: JSONServer, closed_port: ClosedPort
) -> None:
    host = f"http://{server.host}/status"  # the server answers /status/<code>
    async with AsyncResource(host) as api:
        with pytest.raises(jsonrest.StatusError) as status:
            await api.get("/404")
    assert status.value.host == host
    assert status.value.status == 404
    assert status.value.response.path == "/404"
    down = f"http://{closed_port.host}/api"
    async with AsyncResource(down, timeout=2.0) as api:
        with pytest.raises(jsonrest.TransportError) as transport:
            await api.get("/x")
    assert transport.value.host == down
