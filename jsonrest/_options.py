"""Checking a Resource's options once, at construction, and turning them into
the keywords of an httpx client."""

from __future__ import annotations

import inspect
import ssl
from functools import cache
from typing import Any, NamedTuple

import httpx

from ._request import check_headers

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_MAX_BODY",
    "DEFAULT_TIMEOUT",
    "LANE",
    "Options",
    "client_options",
    "lane_sizes",
    "tls_context",
]

DEFAULT_TIMEOUT = 5.0
DEFAULT_LIMIT = 20
DEFAULT_MAX_BODY = 64 * 1024 * 1024
#: Connections kept alive per lane: httpcore's pool costs little up to a few.
LANE = 4
# jsonrest builds every URL itself, so that a request cannot leave its host.
_OURS = frozenset({"base_url"})


@cache
def _httpx_keywords() -> frozenset[str]:
    names = set(inspect.signature(httpx.Client.__init__).parameters)
    names &= set(inspect.signature(httpx.AsyncClient.__init__).parameters)
    return frozenset(names - {"self"} - _OURS)


class Options(NamedTuple):
    """A Resource's own options, and the keywords of its httpx client."""

    max_body: int | None
    max_in_flight: int | None
    pool_timeout: float | None
    lanes: tuple[int, ...]
    client: dict[str, Any]


def tls_context(options: dict[str, Any]) -> ssl.SSLContext:
    """The TLS context httpx would build from a client's `verify`, `cert` and
    `trust_env` keywords (an `SSLContext` given as `verify` is used as is)."""
    return httpx.create_ssl_context(
        verify=options.get("verify", True),
        cert=options.get("cert"),
        trust_env=options.get("trust_env", True),
    )


def lane_sizes(limit: int, size: int = LANE) -> tuple[int, ...]:
    """Split `limit` kept-alive connections over lanes of at most `size` each.

    The shares add up to `limit`, so the lanes together keep alive what one
    pool would; `limit` 0 (a new connection per request) still gets one lane.
    """
    count = max(1, -(-limit // size))
    return tuple(limit // count + (i < limit % count) for i in range(count))


def client_options(options: dict[str, Any]) -> Options:
    """Split a Resource's options into its own and httpx client keywords.

    Unknown keywords raise `TypeError` now rather than at the first request.
    """
    options = dict(options)
    timeout = options.pop("timeout", DEFAULT_TIMEOUT)
    limit = options.pop("limit", DEFAULT_LIMIT)
    max_body = options.pop("max_body", DEFAULT_MAX_BODY)
    max_in_flight = options.pop("max_in_flight", None)
    unknown = sorted(set(options) - _httpx_keywords())
    if unknown:
        raise TypeError(f"unexpected option(s): {', '.join(unknown)}")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValueError(f"limit must be an int >= 0, not {limit!r}")
    if max_body is not None and (not isinstance(max_body, int) or max_body < 0):
        raise ValueError(f"max_body must be an int >= 0 or None, not {max_body!r}")
    if max_in_flight is not None and (
        not isinstance(max_in_flight, int) or max_in_flight < 1
    ):
        raise ValueError(
            f"max_in_flight must be an int >= 1 or None: {max_in_flight!r}"
        )
    numeric = isinstance(timeout, (int, float)) and timeout > 0
    if not (numeric or timeout is None or isinstance(timeout, httpx.Timeout)):
        raise ValueError(
            f"timeout must be seconds > 0, None or httpx.Timeout: {timeout!r}"
        )
    if options.get("headers"):
        # Default headers are checked as a call's are: before any traffic.
        check_headers(httpx.Headers(options["headers"]))
    options["timeout"] = timeout
    # max_connections stays unbounded: a full pool would queue requests inside
    # httpx, where jsonrest could not see or balance them.
    options["limits"] = httpx.Limits(
        max_connections=None, max_keepalive_connections=limit
    )
    pool_timeout = httpx.Timeout(timeout).pool
    return Options(max_body, max_in_flight, pool_timeout, lane_sizes(limit), options)
