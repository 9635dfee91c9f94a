"""The direct path: jsonrest builds each httpx request and hands it to the transport.

httpx's client layer (auth flows, the cookie jar, event hooks, redirects,
proxy mounts, default query parameters) costs more CPU per request than the
pool and the wire on a fast network, and jsonrest needs none of it unless
one of those options asks for it. Without them, a resource builds each
`httpx.Request` itself, as `httpx.Client.build_request` would (the client's
default headers, then the call's; the timeout as the `timeout` extension),
and sends it through the client's transport (`handle_request` /
`handle_async_request`): pooling, timeouts, TLS and HTTP stay httpx's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

__all__ = ["CLIENT_LAYER", "build_request", "needs_client", "timeout_extension"]

#: httpx client options that only the client layer implements: a resource
#: given any of them (with a value other than None) sends every request through
#: `httpx.Client.send`. `follow_redirects=True` does too, and `http2=True`
#: without a `transport` (httpx then makes the pool itself).
CLIENT_LAYER = ("auth", "cookies", "event_hooks", "mounts", "proxy", "params")

# Tests set this to run the suite over the client path as well.
_always_client = False


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


def build_request(
    method: str,
    url: httpx.URL,
    defaults: httpx.Headers,
    headers: Mapping[str, str] | httpx.Headers | None,
    content: bytes | None,
    timeout: dict[str, Any],
) -> httpx.Request:
    """The httpx request `httpx.Client.build_request` would build: `headers`
    over the client's `defaults`, `timeout` as an extension."""
    if headers:
        merged = httpx.Headers(defaults)
        merged.update(headers)
        defaults = merged
    return httpx.Request(
        method, url, content=content, headers=defaults, extensions={"timeout": timeout}
    )
