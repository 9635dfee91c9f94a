from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

import jsonrest._direct
from tests.servers import ClosedPort, Closer, JSONServer

if TYPE_CHECKING:
    from tests.otel import Collected


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs on asyncio and on trio."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=["direct", "client"])
def both_paths(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test on the direct path, then again with every resource made in
    it sending through httpx's client layer (as `event_hooks=` would select)."""
    monkeypatch.setattr(jsonrest._direct, "_always_client", request.param == "client")
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def server() -> Iterator[JSONServer]:
    with JSONServer() as srv:
        yield srv


@pytest.fixture
def servers() -> Iterator[list[JSONServer]]:
    """Three JSON servers."""
    srvs = [JSONServer() for _ in range(3)]
    try:
        yield srvs
    finally:
        for srv in srvs:
            srv.stop()


@pytest.fixture
def closer() -> Iterator[Closer]:
    with Closer() as srv:
        yield srv


@pytest.fixture
def closed_port() -> Iterator[ClosedPort]:
    with ClosedPort() as port:
        yield port


@pytest.fixture
def otel() -> Iterator[Collected]:
    """OpenTelemetry SDK providers that keep spans and metrics in memory."""
    from tests.otel import Collected

    collected = Collected()
    try:
        yield collected
    finally:
        collected.shutdown()
