"""`ResourceBase`: what both `Resource` twins do without awaiting anything.

Configuration, the making of the httpx client's keywords (TLS, lanes,
`Accept-Encoding`), and the credential rule for redirects live here once; a
twin names its httpx types and does the I/O.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import httpx

from ._hosts import parse_host
from ._options import Options, resource_options, tls_context

__all__ = ["ResourceBase", "lane_limits"]

C = TypeVar("C")
Self = TypeVar("Self", bound="ResourceBase[Any]")

_CREDENTIALS = ("authorization", "proxy-authorization", "cookie")


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
        self.host = host
        self.url = parse_host(host).url
        origin = httpx.URL(self.url)
        self._origin = (origin.scheme, origin.host, origin.port)
        self.max_body = own.max_body
        self._options = own.client
        self._lanes = own.lanes
        self._gate = (
            None
            if own.max_in_flight is None
            else self._make_gate(own.max_in_flight, own.pool_timeout)
        )
        self._client: C | None = None
        #: Makes the TLS context a cluster's hosts share (set by its Resources).
        self.tls: Callable[[], ssl.SSLContext] | None = None
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

    # The client -----------------------------------------------------------

    @property
    def client(self) -> C:
        """The underlying httpx client, created on first use."""
        client = self._client
        if client is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError(f"{self!r} is closed")
                if self._client is None:
                    self._client = self._make_client(self._client_options())
                client = self._client
        return client

    def _client_options(self) -> dict[str, Any]:
        options = dict(self._options)
        if self.max_body is not None:
            headers = httpx.Headers(options.get("headers"))
            if "accept-encoding" not in headers:
                # What max_body can bound: httpx would also offer br and zstd
                # when their packages are installed, which jsonrest refuses.
                headers["accept-encoding"] = "gzip, deflate"
                options["headers"] = headers
        if "transport" in options:
            return options  # the caller's own transport takes every request
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
