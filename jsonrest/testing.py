"""Testing helpers for projects that use jsonrest: a fake cluster on respx.

    from jsonrest.testing import MockCluster

    def test_search_fails_over():
        with MockCluster(["search-1:9200", "search-2:9200"]) as cluster:
            cluster["search-1:9200"].down()
            cluster["search-2:9200"].route("GET", "/_search", json={"hits": []})
            with jsonrest.Resources(cluster.hosts) as search:
                assert search.unicast("GET", "/_search")() == {"hits": []}
            cluster["search-2:9200"].assert_received("GET", "/_search", times=1)

Nothing touches the network: every request to a fake host is answered by
respx (install it with `pip install "jsonrest[testing]"`). It works the same
for the blocking and the awaitable classes, on asyncio and trio. The pytest
plugin that ships with jsonrest provides the `jsonrest_cluster` fixture, a
`ClusterFactory`.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import random
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator
from types import TracebackType
from typing import Any, Protocol, TypeAlias

import anyio
import httpx

try:
    import respx
except ImportError as exc:  # pragma: no cover - tested in a subprocess
    raise ImportError(
        'jsonrest.testing needs respx: pip install "jsonrest[testing]"',
        name=exc.name,
    ) from exc

from ._hosts import parse_host

__all__ = ["ClusterFactory", "FakeHost", "MockCluster"]

Handler = Callable[[httpx.Request], httpx.Response]
# What a fake host gives respx: a response, or in an async call (`slow(delay)`)
# a coroutine that respx awaits.
Answer: TypeAlias = "httpx.Response | Coroutine[Any, Any, httpx.Response]"
Fault = Callable[[httpx.Request], "Answer | None"]


def _in_async_call() -> bool:
    """Whether the request comes from an awaitable client (a running event loop)."""
    try:
        import sniffio
    except ImportError:  # without sniffio there is no trio: only asyncio is possible
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True
    try:
        sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return False
    return True


def _after(seconds: float, then: Callable[[], httpx.Response]) -> Answer:
    """`then()` after `seconds`, waiting the way the calling client can."""
    if _in_async_call():

        async def later() -> httpx.Response:
            await anyio.sleep(seconds)
            return then()

        return later()
    time.sleep(seconds)
    return then()


def _timed_out(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out (jsonrest.testing)", request=request)


class FakeHost:
    """One fake host: its routes, its state (up, down, slow, failing), what it got."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.url = parse_host(host).url
        self.requests: list[httpx.Request] = []
        #: Draws which requests a `share` of slowness or failure falls on;
        #: seed it (`fake.rng.seed(1)`) for a repeatable test.
        self.rng = random.Random()
        self._routes: dict[tuple[str, str], Handler] = {}
        # Each answers a request, or None to leave it to the next: a host down
        # refuses every request; then a failing share, then a slow share.
        self._down: Fault | None = None
        self._failing: Fault | None = None
        self._slow: Fault | None = None

    def __repr__(self) -> str:
        return f"<FakeHost {self.host}>"

    def route(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
        handler: Handler | None = None,
    ) -> FakeHost:
        """Answer `method path` with `json` and `status`, or by `handler(request)`.

        `"*"` as the method or the path matches any; exact routes win.
        """
        if handler is None:
            content = b"" if json is None else jsonlib.dumps(json).encode()
            extra = dict(headers or {})
            if json is not None:
                extra.setdefault("content-type", "application/json")

            def handler(request: httpx.Request) -> httpx.Response:
                return httpx.Response(status, content=content, headers=extra)

        self._routes[(method.upper(), path)] = handler
        return self

    def down(self) -> FakeHost:
        """Refuse every connection (`httpx.ConnectError`), as a dead host does."""

        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError(
                "connection refused (jsonrest.testing)", request=request
            )

        self._down = refuse
        self._failing = self._slow = None
        return self

    def _share(self, share: float, fault: Fault) -> Fault | None:
        """`fault` for a random `share` of the requests (None for none)."""
        if isinstance(share, bool) or not 0 <= share <= 1:
            raise ValueError(f"share must be a number from 0 to 1, not {share!r}")
        if share >= 1:
            return fault
        if share <= 0:
            return None

        def sometimes(request: httpx.Request) -> Answer | None:
            return fault(request) if self.rng.random() < share else None

        return sometimes

    def slow(self, delay: float | None = None, *, share: float = 1.0) -> FakeHost:
        """Answer late, or not at all: every request, or a random `share` of
        them (0.01: one in a hundred, like a host that stalls now and then).

        With no `delay`, every request times out at once (`httpx.ReadTimeout`,
        as if the host never answered) so tests stay fast. With a `delay` in
        seconds, each request waits that long and is then answered from the
        routes; when the delay exceeds the request's read timeout it waits for
        the timeout and then raises `httpx.ReadTimeout`. The wait uses the
        running event loop (asyncio or trio) in the awaitable classes and
        `time.sleep` in the blocking ones (so a blocking class called straight
        from a coroutine cannot be made slow with a delay). A slow host may
        also be `failing` a share of its requests.
        """
        if delay is not None and delay < 0:
            raise ValueError("delay must be >= 0")

        def late(request: httpx.Request) -> Answer:
            timeout = request.extensions.get("timeout", {}).get("read")
            if delay is None:
                return _timed_out(request)
            if timeout is not None and delay > timeout:
                return _after(timeout, lambda: _timed_out(request))
            return _after(delay, lambda: self._answer(request))

        self._slow = self._share(share, late)
        self._down = None
        return self

    def failing(
        self, status: int = 503, retry_after: float | None = None, *, share: float = 1.0
    ) -> FakeHost:
        """Answer every request, or a random `share` of them, with `status`
        (and `Retry-After`, if given); the rest as usual, or late if `slow`."""
        headers = {} if retry_after is None else {"retry-after": str(int(retry_after))}

        def fail(request: httpx.Request) -> httpx.Response:
            return httpx.Response(status, json={"error": "failing"}, headers=headers)

        self._failing = self._share(share, fail)
        self._down = None
        return self

    def up(self) -> FakeHost:
        """Back to normal: answer from the routes."""
        self._down = self._failing = self._slow = None
        return self

    def handle(self, request: httpx.Request) -> Answer:
        """Record `request` and answer it (respx calls this)."""
        self.requests.append(request)
        for fault in (self._down, self._failing, self._slow):
            if fault is not None:
                answer = fault(request)
                if answer is not None:
                    return answer
        return self._answer(request)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        routes, method, path = self._routes, request.method, request.url.path
        handler = (
            routes.get((method, path))
            or routes.get((method, "*"))
            or routes.get(("*", path))
            or routes.get(("*", "*"))
        )
        if handler is None:
            return httpx.Response(
                404,
                json={
                    "error": f"no route {request.method} "
                    f"{request.url.path} on {self.host}"
                },
            )
        return handler(request)

    def received(
        self, method: str | None = None, path: str | None = None
    ) -> list[httpx.Request]:
        """The requests this host got, optionally only those of `method` / `path`."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (path is None or r.url.path == path)
        ]

    def assert_received(
        self,
        method: str,
        path: str,
        *,
        times: int | None = None,
        json: Any = ...,
    ) -> None:
        """Assert this host got `method path` (exactly `times` times, with `json`)."""
        found = self.received(method, path)
        if json is not ...:
            found = [r for r in found if r.content and jsonlib.loads(r.content) == json]
        if times is None and not found:
            raise AssertionError(f"{self.host} never received {method} {path}")
        if times is not None and len(found) != times:
            raise AssertionError(
                f"{self.host} received {method} {path} {len(found)} times, not {times}"
            )


class MockCluster:
    """Fake hosts registered on a respx router.

    Give it the host strings your code uses; `cluster[host]` is the `FakeHost`
    to configure and inspect. Used as a context manager it starts its own
    respx router (unless one is passed in, which the caller starts).
    """

    def __init__(
        self, hosts: Iterable[str], router: respx.MockRouter | None = None
    ) -> None:
        self._own = router is None
        self.router = (
            router if router is not None else respx.mock(assert_all_called=False)
        )
        self._hosts: dict[str, FakeHost] = {}
        self._removed: list[FakeHost] = []  # still routed, refusing
        for host in hosts:
            self.add(host)

    def add(self, host: str) -> FakeHost:
        """Register one more fake host."""
        fake = FakeHost(host)
        url = httpx.URL(fake.url)
        # httpx drops a scheme's default port from URLs ("api:80" -> "http://api").
        default = {"http": 80, "https": 443}[url.scheme]
        ports = (url.port,) if url.port not in (None, default) else (None, default)
        self.router.route(scheme=url.scheme, host=url.host, port__in=ports).mock(
            side_effect=fake.handle
        )
        self._hosts[host] = fake
        return fake

    def remove(self, host: str) -> FakeHost:
        """Take a fake host out of the cluster, as a stopped server: it leaves
        `hosts` and refuses every connection from then on (`KeyError` if it
        is no host of the cluster). With `add`, tests can change the members
        that a discovery source such as `lambda: cluster.hosts` answers."""
        fake = self._hosts.pop(host)
        self._removed.append(fake)
        return fake.down()

    @property
    def hosts(self) -> list[str]:
        """The fake hosts' strings, in order (removed ones left out)."""
        return list(self._hosts)

    def __getitem__(self, host: str) -> FakeHost:
        return self._hosts[host]

    def __iter__(self) -> Iterator[FakeHost]:
        return iter(self._hosts.values())

    def received(self) -> dict[str, int]:
        """How many requests each host got."""
        return {host: len(fake.requests) for host, fake in self._hosts.items()}

    def __enter__(self) -> MockCluster:
        if self._own:
            self.router.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._own:
            self.router.__exit__(exc_type, exc, traceback)


class ClusterFactory(Protocol):
    """The type of the `jsonrest_cluster` pytest fixture: call it with host
    strings to get a `MockCluster` on the test's respx router.

    ```python
    from jsonrest.testing import ClusterFactory

    def test_users(jsonrest_cluster: ClusterFactory) -> None:
        cluster = jsonrest_cluster(["kv-1:8080", "kv-2:8080"])
    ```

    Every cluster made in one test shares that router, which is active for
    the whole test and checks nothing at its end (`assert_all_called=False`).
    """

    def __call__(self, hosts: Iterable[str], /) -> MockCluster:
        """A `MockCluster` of `hosts` on the test's router."""
        ...
