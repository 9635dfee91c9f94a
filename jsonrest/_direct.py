"""The direct path: jsonrest builds each httpx request and hands it to the transport.

httpx's client layer (auth flows, the cookie jar, event hooks, redirects,
proxy mounts, default query parameters) costs more CPU per request than the
pool and the wire on a fast network, and jsonrest needs none of it unless
one of those options asks for it. Without them, a resource builds each
`httpx.Request` itself, as `httpx.Client.build_request` would (the client's
default headers, then the call's; the timeout as the `timeout` extension),
and sends it through the client's transport (`handle_request` /
`handle_async_request`): pooling, timeouts, TLS and HTTP stay httpx's.

Built from `content=`, an `httpx.Request` costs about 6 µs, most of it
re-parsing headers to add `Host` and `Content-Length`. Built from `stream=`,
httpx adds no header and only copies the ones it is given, in under 2 µs:
`DefaultHeaders` keeps the client's headers with the `Host` in front, made
once, and `build_request` adds the `Content-Length` httpx would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

__all__ = [
    "CLIENT_LAYER",
    "DefaultHeaders",
    "build_request",
    "needs_client",
    "timeout_extension",
]

#: httpx client options that only the client layer implements: a resource
#: given any of them (with a value other than None) sends every request through
#: `httpx.Client.send`. `follow_redirects=True` does too, and `http2=True`
#: without a `transport` (httpx then makes the pool itself).
CLIENT_LAYER = ("auth", "cookies", "event_hooks", "mounts", "proxy", "params")

# Tests set this to run the suite over the client path as well.
_always_client = False

# Methods httpx sends `Content-Length: 0` with when they have no body.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_NO_BODY = httpx.ByteStream(b"")  # holds no state: one serves every request


def needs_client(options: Mapping[str, Any]) -> bool:
    """Whether a resource with httpx client `options` needs the client layer."""
    if _always_client:
        return True
    if any(options.get(name) is not None for name in CLIENT_LAYER):
        return True
    if options.get("follow_redirects"):
        return True
    return bool(options.get("http2")) and options.get("transport") is None


def timeout_extension(timeout: float | httpx.Timeout | None) -> dict[str, Any]:
    """`timeout` as httpx's transports take it: the `timeout` request extension."""
    return httpx.Timeout(timeout).as_dict()


class DefaultHeaders:
    """The headers of each request to one host, as `httpx.Client` merges them:
    its `Host`, then the client's headers, then the call's.

    For a request with neither a body nor headers of its own (most GETs),
    they are made once, and made again only when the client's headers have
    changed since: a caller may change them at any time, as on an httpx
    client.
    """

    def __init__(self, netloc: bytes) -> None:
        self._netloc = netloc
        # The client's headers as last seen, and what was made of them: one
        # tuple, replaced whole, so that threads never see half of it.
        self._made: tuple[list[tuple[bytes, bytes]], httpx.Headers] | None = None

    def of(
        self,
        client_headers: httpx.Headers,
        method: str,
        headers: Mapping[str, str] | httpx.Headers | None,
        content: bytes | None,
    ) -> httpx.Headers:
        """The headers to send; shared when made once, so never to be changed."""
        if not headers and not content and method not in _BODY_METHODS:
            raw = client_headers.raw
            made = self._made
            if made is None or made[0] != raw:
                host = [] if "host" in client_headers else [(b"Host", self._netloc)]
                made = self._made = (raw, httpx.Headers(host + raw))
            return made[1]
        # As httpx merges them: the call's headers over the client's, the
        # body's Content-Length unless given; then Host, and a Content-Length
        # of 0 for POST, PUT or PATCH without a body, in front.
        merged = httpx.Headers(client_headers)
        if headers:
            merged.update(headers)
        if content:
            merged.setdefault("Content-Length", str(len(content)))
        auto = []
        if "host" not in merged:
            auto.append((b"Host", self._netloc))
        if (
            not content
            and method in _BODY_METHODS
            and "content-length" not in merged
            and "transfer-encoding" not in merged
        ):
            auto.append((b"Content-Length", b"0"))
        return httpx.Headers(auto + merged.raw) if auto else merged


def build_request(
    method: str,
    url: httpx.URL,
    headers: httpx.Headers,
    content: bytes | None,
    timeout: dict[str, Any],
    read: bool = True,
) -> httpx.Request:
    """The httpx request `httpx.Client.build_request` would build, given the
    headers `DefaultHeaders` made for it; `timeout` as an extension.

    With `read` its `content` is there, as on the requests httpx builds, for
    a transport that looks at it (a caller's own, a mock); httpx's transports
    only iterate the stream, so for them it may be left unread.
    """
    request = httpx.Request(
        method,
        url,
        headers=headers,
        stream=httpx.ByteStream(content) if content else _NO_BODY,
        extensions={"timeout": timeout},
    )
    if read:
        request.read()  # as httpx does for bytes
    return request
