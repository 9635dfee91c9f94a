"""`ResourceBase`: what both `Resource` twins do without awaiting anything.

Configuration (the host and its base path), the making of the httpx
client's keywords (TLS, lanes, `Accept-Encoding`), the client's event loop,
and the credential rule for redirects live here once; a twin names its httpx
types and does the I/O.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import threading
from collections.abc import AsyncGenerator, Callable
from typing import Any, Generic, TypeVar

import httpx

from ._direct import DefaultHeaders, build_request, needs_client, timeout_extension
from ._hosts import parse_host
from ._options import DEFAULT, Options, resource_options, tls_context
from ._request import Request
from ._telemetry import trace_headers

__all__ = ["ResourceBase", "lane_limits"]

C = TypeVar("C")
Self = TypeVar("Self", bound="ResourceBase[Any]")

_CREDENTIALS = ("authorization", "proxy-authorization", "cookie")
# Parsed URLs a resource keeps for the direct path (a few KB at most).
_URLS_KEPT = 64


class ResourceBase(Generic[C]):
    """One host's configuration and its httpx client, made on first use.

    `C` is the twin's httpx client type.
    """

    def __init__(self, host: str, **options: Any) -> None:
        self._configure(host, resource_options(options))

    @classmethod
    def configured(cls: type[Self], host: str, options: Options) -> Self:
        """A resource for `host` with options already checked (shared by a
        cluster's hosts, so they are checked once, not once per host)."""
        resource = cls.__new__(cls)
        resource._configure(host, options)
        return resource

    def _configure(self, host: str, own: Options) -> None:
        parsed = parse_host(host)
        #: The host string as given: how the host shows in errors and stats.
        self.host = host
        #: What each request's path is appended to: the origin, then the
        #: base path if the host has one (`http://h:8080/api/v2`).
        self.url = parsed.url + parsed.path
        origin = httpx.URL(self.url)
        self._origin = (origin.scheme, origin.host, origin.port)
        self.max_body = own.max_body
        self._options = own.client
        # The direct path (see _direct): chosen once, from the options.
        self._direct = not needs_client(own.client)
        self._timeout_extension = timeout_extension(own.timeout)
        self._defaults = DefaultHeaders(origin.netloc)
        self._transport: Any = None  # the client's transport, set with it
        # Whether requests go to the caller's own transport, which may read
        # `request.content` (httpx's own, in jsonrest's lanes, never does).
        self._foreign = own.client.get("transport") is not None
        self._urls: dict[str, httpx.URL] = {}  # parsed URLs by target
        self._lanes = own.lanes
        self._gate = (
            None
            if own.max_in_flight is None
            else self._make_gate(own.max_in_flight, own.pool_timeout)
        )
        self._client: C | None = None
        # The event loop `_client` belongs to: None for the blocking twin, and
        # for an awaitable client made outside any event loop (not used yet).
        self._loop: object = None
        self._loop_end: _LoopEnd | None = None  # closes `_client` as it ends
        #: Makes the TLS context a cluster's hosts share (set by its Resources).
        self.tls: Callable[[], ssl.SSLContext] | None = None
        #: The name an address was discovered under (set by its Resources):
        #: requests carry it as the TLS server name and the Host header.
        self.server_name: str | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._active = 0  # requests inside the client right now

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.host!r})"

    # What the twin provides -----------------------------------------------

    def _make_gate(self, limit: int, timeout: float | None) -> Any:
        """The gate of `max_in_flight` (the twin's kind)."""
        raise NotImplementedError

    def _make_lanes(
        self, verify: ssl.SSLContext, http1: bool, expiry: float | None
    ) -> Any:
        """The lanes transport over `self._lanes` (the twin's kind)."""
        raise NotImplementedError

    def _make_client(self, options: dict[str, Any]) -> C:
        """A new httpx client of the twin's type from `options`."""
        raise NotImplementedError

    def _running_loop(self) -> object:
        """The event loop running now: the awaitable twin returns its asyncio
        loop or trio token; None (the blocking twin) means no event loop."""
        return None

    # The client -----------------------------------------------------------

    @property
    def client(self) -> C:
        """The underlying httpx client, created on first use.

        An awaitable client belongs to the event loop it is first used in,
        and is closed as that loop ends (if not before). Used in another event
        loop once the first has ended, a resource makes a new client; used in
        one while the first still runs, it raises `RuntimeError`: an instance
        belongs to one event loop at a time.
        """
        client = self._client
        loop = self._running_loop()
        if client is None or (loop is not None and loop is not self._loop):
            with self._lock:
                if self._closed:
                    raise RuntimeError(f"{self!r} is closed")
                if loop is not None:
                    self._follow(loop)
                if self._client is None:
                    options = self._client_options()
                    self._transport = options.get("transport")
                    self._client = self._make_client(options)
                    if loop is not None:
                        self._loop_end = _LoopEnd(self._client)
                client = self._client
        return client

    def _follow(self, loop: object) -> None:
        """Move the client to event loop `loop` (holding the lock).

        A client made outside any event loop is adopted by the first one. A
        client of a loop that has ended is dropped: that loop closed it as it
        ended, or, if it ended without closing its async generators, nothing
        can any more (only the garbage collector closes its sockets). A
        client of a loop that still runs stays, and `RuntimeError` says so.
        """
        if loop is self._loop:
            return
        if self._client is not None:
            if self._loop is None:
                self._loop_end = _LoopEnd(self._client)
            elif _loop_running(self._loop):
                raise RuntimeError(
                    f"{self!r} is in use by another event loop, still running: "
                    "an instance belongs to one event loop at a time (make one "
                    "per event loop, or close it in the loop that uses it)"
                )
            else:
                self._client = self._loop_end = None
        self._loop = loop

    def _take_client(self) -> C | None:
        """The client, taken away to be closed by the caller (holding the lock)."""
        client, self._client = self._client, None
        loop_end, self._loop_end = self._loop_end, None
        if loop_end is not None:
            loop_end.forget()
        return client

    def _closing(self) -> C | None:
        """Mark the resource closed; return the client to close now, if any.

        None when requests are in flight: the last one to end closes it.
        """
        loop = self._running_loop()
        with self._lock:
            self._closed = True
            if self._active:
                return None
            if loop is not None:
                self._follow(loop)
            return self._take_client()

    def _enter(self) -> None:
        """Count a request's start; `RuntimeError` once closed."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self!r} is closed")
            self._active += 1

    def _build(self, client: Any, request: Request, timeout: Any) -> httpx.Request:
        """The httpx request for `request` on this host."""
        headers, extensions = self._headers(request)
        try:
            built: httpx.Request = client.build_request(
                request.method,
                self.url + request.target,
                content=request.content,
                headers=headers,
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is DEFAULT else timeout,
                extensions=extensions,
            )
        except httpx.InvalidURL as exc:  # too long: the caller's path or params
            raise ValueError(f"invalid request URL: {exc}") from exc
        return built

    def _headers(self, request: Request) -> tuple[Any, dict[str, Any] | None]:
        """The headers and extensions every path sends `request` with: with
        OpenTelemetry in use, the current span as `traceparent`; for a host
        found by discovery, the name it was found by."""
        headers: Any = trace_headers(request.headers)
        if self.server_name is None:
            return headers, None
        return self._named(headers)

    def _named(self, headers: Any) -> tuple[httpx.Headers, dict[str, Any]]:
        """Headers and extensions that send a request to an address under the
        name it was discovered by: the `Host` header (unless the caller set
        one) and the TLS server name, which the certificate is checked
        against."""
        name = str(self.server_name)
        port = self._origin[2]
        named = httpx.Headers(headers)
        if "host" not in named:
            named["host"] = name if port is None else f"{name}:{port}"
        extensions = {"sni_hostname": name} if self._origin[0] == "https" else {}
        return named, extensions

    def _direct_request(
        self, client: Any, request: Request, timeout: Any
    ) -> httpx.Request:
        """The httpx request for `request` on the direct path: what `_build`
        builds, without the client layer."""
        url = self._urls.get(request.target)
        if url is None:
            url = self._url(request.target)
        headers, extensions = self._headers(request)
        built = build_request(
            request.method,
            url,
            # The client's headers are read per request: a caller may change them.
            self._defaults.of(client.headers, request.method, headers, request.content),
            request.content,
            (
                self._timeout_extension
                if timeout is DEFAULT
                else timeout_extension(timeout)
            ),
            self._foreign,
        )
        if extensions:
            built.extensions.update(extensions)
        return built

    def _url(self, target: str) -> httpx.URL:
        """The URL of `target` on this host, parsed once: parsing costs more
        than the rest of building a request, and calls repeat their paths."""
        try:
            url = httpx.URL(self.url + target)
        except httpx.InvalidURL as exc:  # too long: the caller's path or params
            raise ValueError(f"invalid request URL: {exc}") from exc
        if len(self._urls) >= _URLS_KEPT:
            self._urls.clear()  # many distinct paths: start again, bounded
        self._urls[target] = url
        return url

    def _ended(self) -> C | None:
        """Count a request's end; return the client to close now if the
        resource was closed while requests ran, and this was the last."""
        with self._lock:
            self._active -= 1
            if not self._closed or self._active:
                return None
            return self._take_client()

    def _client_options(self) -> dict[str, Any]:
        options = dict(self._options)
        if self.max_body is not None:
            headers = httpx.Headers(options.get("headers"))
            if "accept-encoding" not in headers:
                # What max_body can bound: httpx would also offer br and zstd
                # when their packages are installed, which jsonrest refuses.
                headers["accept-encoding"] = "gzip, deflate"
                options["headers"] = headers
        if options.get("transport") is not None:
            return options  # the caller's own transport takes every request
        options.pop("transport", None)  # None means httpx's own: lanes instead
        if self.tls is not None and not isinstance(
            options.get("verify"), ssl.SSLContext
        ):
            verify = self.tls()  # the one context a cluster's hosts share
        else:
            # Made once for every lane: httpx would make one per transport,
            # at milliseconds each.
            verify = tls_context(options)
        options["verify"] = verify
        options.pop("cert", None)  # now part of the context
        if not options.get("http2"):  # HTTP/2 multiplexes: one pool suffices
            options["transport"] = self._make_lanes(
                verify, options.get("http1", True), options["limits"].keepalive_expiry
            )
        return options

    def _strip_credentials(self, request: httpx.Request) -> None:
        # A followed redirect may lead to another host. httpx drops the
        # Authorization header there, but fills Cookie from the client's jar,
        # where cookies given as an option match every host: strip both.
        url = request.url
        if (url.scheme, url.host, url.port) != self._origin:
            for name in _CREDENTIALS:
                request.headers.pop(name, None)


def lane_limits(keepalive: int, expiry: float | None) -> httpx.Limits:
    """The limits of one lane: unbounded connections, `keepalive` kept alive."""
    return httpx.Limits(
        max_connections=None,
        max_keepalive_connections=keepalive,
        keepalive_expiry=expiry,
    )


class _LoopEnd:
    """Closes an awaitable httpx client as the event loop it belongs to ends.

    An event loop closes the async generators still suspended in it as it
    ends (`asyncio.run`, `anyio.run` and `trio.run` all do): this one's
    `finally` closes the client then, inside its own loop, the only place
    where its connections can be closed. `forget()` ends it at once, quietly,
    when the client is closed otherwise.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._until_then = self._wait()
        try:  # run it to its `yield`: the running loop now tracks it
            self._until_then.asend(None).send(None)
        except StopIteration:
            pass
        except Exception:  # a loop already closing its generators refused it
            pass

    async def _wait(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            client, self._client = self._client, None
            if client is not None:
                try:
                    await client.aclose()
                except Exception:  # nothing to report it to as a loop ends
                    pass

    def forget(self) -> None:
        """End without closing the client (closed otherwise, or to be)."""
        self._client = None
        try:
            self._until_then.aclose().send(None)
        except (StopIteration, RuntimeError):  # RuntimeError: closing it now
            pass


def _loop_running(loop: Any) -> bool:
    """Whether `loop` (an asyncio loop or a `TrioToken`) still runs, in any
    thread."""
    if isinstance(loop, asyncio.AbstractEventLoop):
        return loop.is_running()
    trio: Any = sys.modules["trio"]  # a TrioToken: trio is imported
    try:
        loop.run_sync_soon(_nothing)  # refused once its run has finished
    except trio.RunFinishedError:
        return False
    return True


def _nothing() -> None:
    pass
