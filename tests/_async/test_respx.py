"""How a downstream project mocks jsonrest with respx: no sockets at all."""

from __future__ import annotations

import httpx
import pytest
import respx

import jsonrest
from jsonrest import AsyncResource

# Every test runs on the direct path and through httpx's client layer.
pytestmark = pytest.mark.usefixtures("both_paths")


@pytest.mark.anyio
async def test_respx_mocks_a_resource() -> None:
    with respx.mock(assert_all_called=True) as router:
        items = router.get("http://api.test/items", params={"page": "2"}).respond(
            json=[1, 2]
        )
        created = router.post("https://api.test:8443/items").respond(
            201, json={"id": 7}
        )
        async with AsyncResource("api.test") as resource:
            assert await resource.get("/items", page=2) == [1, 2]
        async with AsyncResource("https://api.test:8443") as resource:
            assert await resource.post("/items", {"name": "x"}) == {"id": 7}
    assert items.call_count == 1
    assert created.calls.last.request.content == b'{"name":"x"}'


@pytest.mark.anyio
async def test_respx_errors_map_to_jsonrest_errors() -> None:
    with respx.mock() as router:
        router.get("http://api.test/down").mock(side_effect=httpx.ConnectError)
        router.get("http://api.test/gone").respond(410, json={"error": "gone"})
        async with AsyncResource("api.test") as resource:
            with pytest.raises(jsonrest.TransportError) as transport:
                await resource.get("/down")
            with pytest.raises(jsonrest.StatusError) as status:
                await resource.get("/gone")
    assert transport.value.host == "api.test"
    assert status.value.body == {"error": "gone"}
