"""AsyncResource.stream against a real server on 127.0.0.1 that streams slowly."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

import jsonrest
from jsonrest import AsyncLineStream, AsyncResource
from tests.servers import ClosedPort, JSONServer, wait_until

# Every test runs on the direct path and through httpx's client layer.
pytestmark = pytest.mark.usefixtures("both_paths")

ENDLESS = 100_000  # rounds of a `/lines` stream: it ends when the client leaves


def lines_of(*say: str, **query: Any) -> dict[str, Any]:
    """The query of a `/lines` stream sending each of `say` as one chunk."""
    return {"say": list(say), **query}


async def collect(lines: AsyncLineStream) -> list[Any]:
    """Every item left in `lines`."""
    items = []
    async for item in lines:
        items.append(item)
    return items


async def fail_while_reading(stream: AsyncLineStream) -> None:
    async with stream as lines:
        async for _ in lines:
            raise ZeroDivisionError


@pytest.mark.anyio
async def test_ndjson_lines_arrive_decoded(server: JSONServer) -> None:
    say = ['{"a":', ' 1}\n{"b": [1, "é"]}\r\n', "\n", "  \n", '"last"']
    async with (
        AsyncResource(server.host) as api,
        api.stream("GET", "/lines", params=lines_of(*say)) as lines,
    ):
        assert lines.status == 200
        assert lines.reason == "OK"
        assert lines.headers["content-type"] == "application/x-ndjson"
        assert (lines.host, lines.method, lines.path) == (
            server.host,
            "GET",
            "/lines",
        )
        items = await collect(lines)
    assert items == [{"a": 1}, {"b": [1, "é"]}, "last"]


@pytest.mark.anyio
async def test_each_line_is_given_as_it_arrives(server: JSONServer) -> None:
    say = [json.dumps({"n": n}) + "\n" for n in range(3)]
    async with (
        AsyncResource(server.host) as api,
        api.stream(
            "POST", "/lines", {"watch": "key"}, params=lines_of(*say, gap=0.3)
        ) as lines,
    ):
        first = await lines.__anext__()
        got_first = time.perf_counter()
        rest = await collect(lines)
        got_rest = time.perf_counter()
    assert first == {"n": 0}
    assert rest == [{"n": 1}, {"n": 2}]
    # The server waits 0.3 s before each later line. Held until the body
    # ended, every line would come at once; given as it arrives, the first
    # comes at least those two gaps before the rest. (A loaded machine can
    # only stretch the gaps, never shorten them.)
    assert got_rest - got_first >= 0.5
    assert server.requests[-1] == ("POST", "/lines")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json-seq", "application/jsonl"],
)
async def test_json_streams_by_content_type(
    server: JSONServer, content_type: str
) -> None:
    # etcd's watch sends one object per line as application/json; json-seq
    # begins each record with RS.
    say = ['\x1e{"result": {"events": []}}\n', '\x1e{"result": {"n": 2}}\n']
    query = lines_of(*say, type=content_type)
    async with (
        AsyncResource(server.host) as api,
        api.stream("GET", "/lines", params=query) as lines,
    ):
        items = await collect(lines)
    assert items == [{"result": {"events": []}}, {"result": {"n": 2}}]


@pytest.mark.anyio
async def test_text_lines(server: JSONServer) -> None:
    say = ["data: héllo\r\nda", "ta: world\n\n", "id: 3"]
    query = lines_of(*say, type="text/event-stream; charset=utf-8")
    async with (
        AsyncResource(server.host) as api,
        api.stream("GET", "/lines", params=query) as lines,
    ):
        items = await collect(lines)
    assert items == ["data: héllo", "data: world", "", "id: 3"]


@pytest.mark.anyio
async def test_gzip_stream_is_decoded_as_it_arrives(server: JSONServer) -> None:
    say = [json.dumps({"n": n}) + "\n" for n in range(3)]
    query = lines_of(*say, gap=0.3, gzip="")
    async with (
        AsyncResource(server.host, max_body=1000) as api,
        api.stream("GET", "/lines", params=query) as lines,
    ):
        assert lines.headers["content-encoding"] == "gzip"
        first = await lines.__anext__()
        got_first = time.perf_counter()
        rest = await collect(lines)
        got_rest = time.perf_counter()
    assert [first, *rest] == [{"n": 0}, {"n": 1}, {"n": 2}]
    # Decoded as it arrives: the first line comes at least the server's two
    # gaps of 0.3 s before the rest (load can stretch gaps, never shorten them).
    assert got_rest - got_first >= 0.5


@pytest.mark.anyio
async def test_a_line_that_is_not_json_raises_then_the_stream_goes_on(
    server: JSONServer,
) -> None:
    query = lines_of('{"n": 1}\n{not json\n{"n": 3}\n')
    async with (
        AsyncResource(server.host) as api,
        api.stream("GET", "/lines", params=query) as lines,
    ):
        items = [await lines.__anext__()]
        with pytest.raises(jsonrest.DecodeError) as info:
            await lines.__anext__()
        items += await collect(lines)
    assert items == [{"n": 1}, {"n": 3}]
    assert str(info.value).startswith(
        f"GET /lines: line 2 of the stream from {server.host} is not JSON"
    )
    assert info.value.host == server.host
    assert info.value.status == 200


@pytest.mark.anyio
async def test_the_timeout_applies_between_chunks(server: JSONServer) -> None:
    steady = lines_of('{"n": 1}\n', gap=0.06, repeat=8)
    stalled = lines_of('{"n": 1}\n', '{"n": 2}\n', gap=1)
    async with AsyncResource(server.host, timeout=0.3) as api:
        # 0.42 s in all, longer than the timeout: no chunk was late.
        async with api.stream("GET", "/lines", params=steady) as lines:
            assert len(await collect(lines)) == 8
        start = time.perf_counter()
        async with api.stream("GET", "/lines", params=stalled) as lines:
            assert await lines.__anext__() == {"n": 1}
            with pytest.raises(jsonrest.Timeout) as info:
                await lines.__anext__()
            assert await collect(lines) == []  # the error ended it
        assert time.perf_counter() - start < 0.9
        # The per-call timeout replaces the resource's.
        async with api.stream("GET", "/lines", params=stalled, timeout=2) as lines:
            assert await collect(lines) == [{"n": 1}, {"n": 2}]
    assert info.value.host == server.host
    assert str(info.value).startswith("GET /lines: ReadTimeout")


@pytest.mark.anyio
async def test_an_endless_line_past_max_body_raises(server: JSONServer) -> None:
    endless = lines_of("x" * 1000, repeat=ENDLESS)
    async with AsyncResource(server.host, max_body=10_000) as api:
        async with api.stream("GET", "/lines", params=endless) as lines:
            with pytest.raises(jsonrest.BodyTooLarge) as info:
                await lines.__anext__()
            assert await collect(lines) == []
        wait_until(lambda: server.hangups == 1)
    assert info.value.limit == 10_000
    assert str(info.value) == (
        f"GET /lines: a line of the stream from {server.host} exceeds "
        "max_body=10000 bytes"
    )


@pytest.mark.anyio
async def test_leaving_early_closes_the_connection(server: JSONServer) -> None:
    endless = lines_of('{"n": 1}\n', gap=0.01, repeat=ENDLESS)
    async with AsyncResource(server.host) as api:
        async with api.stream("GET", "/lines", params=endless) as lines:
            async for item in lines:
                assert item == {"n": 1}
                break
            assert server.open_connections == 1
        wait_until(lambda: server.hangups == 1 and server.open_connections == 0)
        with pytest.raises(ZeroDivisionError):
            await fail_while_reading(api.stream("GET", "/lines", params=endless))
        wait_until(lambda: server.hangups == 2 and server.open_connections == 0)
        async with api.stream("GET", "/lines", params=endless) as lines:
            pass  # not a line read
        wait_until(lambda: server.hangups == 3 and server.open_connections == 0)
        assert api._active == 0
        assert (await api.get("/echo"))["path"] == "/echo"


@pytest.mark.anyio
async def test_a_status_other_than_2xx_raises_before_any_line(
    server: JSONServer,
) -> None:
    query = lines_of(
        '{"message": "etcdserver: no leader"}\n',
        type="application/json",
        status=503,
    )
    async with AsyncResource(server.host) as api:
        with pytest.raises(jsonrest.StatusError) as info:
            async with api.stream("GET", "/lines", params=query):
                raise AssertionError("not reached")
        assert api._active == 0
    assert info.value.status == 503
    assert info.value.body == {"message": "etcdserver: no leader"}
    assert str(info.value) == (
        f"GET /lines: 503 Service Unavailable from {server.host}: etcdserver: no leader"
    )


@pytest.mark.anyio
async def test_transport_errors_are_mapped(closed_port: ClosedPort) -> None:
    async with AsyncResource(closed_port.host) as api:
        stream = api.stream("GET", "/watch", params={"token": "s3cret"})
        with pytest.raises(jsonrest.TransportError) as info:
            async with stream:
                raise AssertionError("not reached")
        assert api._active == 0
    assert info.value.host == closed_port.host
    assert str(info.value).startswith("GET /watch: ConnectError")
    assert "s3cret" not in str(info.value)


@pytest.mark.anyio
async def test_misuse_is_refused(server: JSONServer) -> None:
    async with AsyncResource(server.host) as api:
        with pytest.raises(ValueError):
            api.stream("GET", "http://elsewhere/x")  # checked at once
        with pytest.raises(TypeError):
            api.stream("GET", "/lines", timeout="1")
        query = lines_of("a\n", type="text/plain")
        stream = api.stream("GET", "/lines", params=query)
        with pytest.raises(RuntimeError, match="inside its `async with`"):
            await stream.__anext__()
        async with stream as lines:
            assert await collect(lines) == ["a"]
            assert await collect(lines) == []
        with pytest.raises(RuntimeError, match="a stream is read once"):
            async with stream:
                pass
        await stream.aclose()  # again: nothing to do
    assert server.requests == [("GET", "/lines")]


@pytest.mark.anyio
async def test_a_stream_holds_the_resource_open_until_it_ends(
    server: JSONServer,
) -> None:
    query = lines_of('{"n": 1}\n', '{"n": 2}\n', gap=0.1)
    api = AsyncResource(server.host)
    async with api.stream("GET", "/lines", params=query) as lines:
        assert await lines.__anext__() == {"n": 1}
        await api.aclose()  # not cut off: the pool closes when the stream ends
        assert await lines.__anext__() == {"n": 2}
        assert api._client is not None
    assert api._client is None
    with pytest.raises(RuntimeError, match="closed"):
        async with api.stream("GET", "/lines"):
            pass


@pytest.mark.anyio
async def test_a_stream_holds_a_turn_of_max_in_flight(server: JSONServer) -> None:
    query = lines_of('{"n": 1}\n', '{"n": 2}\n', gap=0.1)
    timeout = httpx.Timeout(5.0, pool=0.2)
    async with AsyncResource(server.host, max_in_flight=1, timeout=timeout) as api:
        async with api.stream("GET", "/lines", params=query) as lines:
            with pytest.raises(jsonrest.Timeout):
                await api.get("/echo")
            assert await collect(lines) == [{"n": 1}, {"n": 2}]
        assert (await api.get("/echo"))["path"] == "/echo"
