"""Checking options once, at construction, into frozen objects.

`resource_options` checks a Resource's keywords and splits them into its own
settings and the keywords of its httpx client (`Options`); `cluster_options`
checks the keywords only a Resources has (`ClusterOptions`). A bad value fails
there, naming the option and the value, rather than at the first request:

- `TypeError` for a value of the wrong type (a str where a number goes, a bool
  or float where an int goes) and for an unknown keyword;
- `ValueError` for a value of the right type out of range (0, negative, nan,
  inf, or more than `MAX_SECONDS` / `MAX_CONNECTIONS`).
"""

from __future__ import annotations

import enum
import inspect
import math
import numbers
import operator
import reprlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any, TypeGuard

import httpx

from ._request import check_headers

__all__ = [
    "DEFAULT",
    "DEFAULT_LIMIT",
    "DEFAULT_MAX_BODY",
    "DEFAULT_TIMEOUT",
    "LANE",
    "MAX_CONNECTIONS",
    "MAX_SECONDS",
    "ClusterOptions",
    "Default",
    "Options",
    "check_share",
    "check_timeout",
    "cluster_options",
    "lane_sizes",
    "resource_options",
    "tls_context",
]


class Default(enum.Enum):
    """The type of `DEFAULT`."""

    DEFAULT = "DEFAULT"

    def __repr__(self) -> str:
        return "DEFAULT"


#: A keyword left to the instance's own setting (its `timeout`, `deadline`).
DEFAULT = Default.DEFAULT

DEFAULT_TIMEOUT = 5.0
DEFAULT_LIMIT = 20
DEFAULT_MAX_BODY = 64 * 1024 * 1024
#: Connections kept alive per lane. httpcore's pool rescans its connections
#: at every request's start and end; at 50 tasks over 4 hosts, lanes of 2 were
#: 6-8% faster than lanes of 4 on asyncio and trio (lanes of 1 and of 7
#: slower), with the same connections kept alive in all.
LANE = 2
#: The longest time an option may give, in seconds: 365 days. Longer is a
#: mistake rather than a plan, and far longer (1e300, inf) overflows the clocks
#: and sockets that meet it later (a bare OverflowError at the first request).
MAX_SECONDS = 365 * 24 * 3600.0
#: The most connections `limit` may keep alive to one host: one client address
#: has no more ports to open them from. It also bounds the lanes made for them.
MAX_CONNECTIONS = 65_535
# jsonrest builds every URL itself, so that a request cannot leave its host.
_OURS = frozenset({"base_url"})
# Values in messages are cut short: a 10**5000 or a long string would swamp
# them (and repr of an int of over 4300 digits raises).
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = 40


@cache
def _httpx_keywords() -> frozenset[str]:
    names = set(inspect.signature(httpx.Client.__init__).parameters)
    names &= set(inspect.signature(httpx.AsyncClient.__init__).parameters)
    return frozenset(names - {"self"} - _OURS)


@dataclass(frozen=True, slots=True)
class Options:
    """A Resource's options, validated once.

    `timeout` is the default of every request (None for none), `pool_timeout`
    its pool part (how long `max_in_flight` lets a request wait), `lanes` each
    lane's share of the `limit` connections kept alive, and `client` the
    keywords of its httpx client, read-only, with `timeout` and `limits` set.
    """

    timeout: float | httpx.Timeout | None
    max_body: int | None
    max_in_flight: int | None
    pool_timeout: float | None
    lanes: tuple[int, ...]
    client: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ClusterOptions:
    """A Resources' own options, validated once (see `cluster_options`)."""

    retries: int
    deadline: float | None
    backoff: float
    max_backoff: float
    max_retry_after: float
    max_workers: int


def resource_options(options: Mapping[str, Any]) -> Options:
    """Check a Resource's keywords; split them into its own and httpx's.

    Its own: `timeout` (seconds, None or an `httpx.Timeout`, every part checked;
    default 5), `limit` (connections kept alive, 0 to `MAX_CONNECTIONS`; default
    20), `max_body` (bytes >= 0 or None; default 64 MiB), `max_in_flight` (>= 1
    or None, the default). Any other keyword must be one of the httpx client's;
    default `headers` are checked as a request's are.
    """
    keywords = dict(options)
    timeout = check_timeout(keywords.pop("timeout", DEFAULT_TIMEOUT))
    limits = _limits(keywords)
    limit = check_count(
        "limit", keywords.pop("limit", DEFAULT_LIMIT), 0, MAX_CONNECTIONS
    )
    max_body = keywords.pop("max_body", DEFAULT_MAX_BODY)
    if max_body is not None:
        max_body = check_count("max_body", max_body, 0)
    max_in_flight = keywords.pop("max_in_flight", None)
    if max_in_flight is not None:
        max_in_flight = check_count("max_in_flight", max_in_flight, 1)
    unknown = sorted(set(keywords) - _httpx_keywords())
    if unknown:
        raise TypeError(f"unexpected option(s): {', '.join(unknown)}")
    if keywords.get("headers"):
        # Default headers are checked as a call's are: before any traffic.
        check_headers(httpx.Headers(keywords["headers"]))
    keywords["timeout"] = timeout
    # max_connections stays unbounded: a full pool would queue requests inside
    # httpx, where jsonrest could not see or balance them.
    keywords["limits"] = httpx.Limits(
        max_connections=None,
        max_keepalive_connections=limit,
        keepalive_expiry=limits.keepalive_expiry,
    )
    return Options(
        timeout=timeout,
        max_body=max_body,
        max_in_flight=max_in_flight,
        pool_timeout=httpx.Timeout(timeout).pool,
        lanes=lane_sizes(limit),
        client=MappingProxyType(keywords),
    )


def cluster_options(
    *,
    retries: int = 2,
    deadline: float | None = None,
    backoff: float = 1.0,
    max_backoff: float = 30.0,
    max_retry_after: float = 60.0,
    max_workers: int = 64,
) -> ClusterOptions:
    """Check the keywords only a Resources has.

    `retries` >= 0; `deadline` seconds > 0 or None; `backoff` seconds > 0, up
    to `max_backoff`; `max_retry_after` seconds >= 0; `max_workers` >= 1.
    Seconds are at most `MAX_SECONDS` and come back as floats.
    """
    # Checked in the order of the signature, so the first bad one is named.
    retries = check_count("retries", retries, 0)
    if deadline is not None:
        deadline = check_seconds("deadline", deadline)
    backoff = check_seconds("backoff", backoff)
    max_backoff = check_seconds("max_backoff", max_backoff)
    if max_backoff < backoff:
        raise ValueError(
            f"max_backoff must be >= backoff ({backoff:g}), not {max_backoff:g}"
        )
    return ClusterOptions(
        retries=retries,
        deadline=deadline,
        backoff=backoff,
        max_backoff=max_backoff,
        max_retry_after=check_seconds("max_retry_after", max_retry_after, zero=True),
        max_workers=check_count("max_workers", max_workers, 1),
    )


def _limits(keywords: dict[str, Any]) -> httpx.Limits:
    """Take an httpx `limits=` apart into jsonrest's own keywords.

    `max_keepalive_connections` is `limit` (when None: `max_connections`, else
    the default), `max_connections` is `max_in_flight`, and `keepalive_expiry`
    is kept: jsonrest balances connections itself, so it never lets httpx
    queue requests in a full pool.
    """
    limits = keywords.pop("limits", None)
    if limits is None:
        return httpx.Limits(max_connections=None)
    if not isinstance(limits, httpx.Limits):
        raise TypeError(f"limits must be an httpx.Limits, not {_show(limits)}")
    clashes = sorted({"limit", "max_in_flight"} & set(keywords))
    if clashes:
        raise TypeError(
            f"give either limits= or {' and '.join(n + '=' for n in clashes)}, not both"
        )
    keepalive = limits.max_keepalive_connections
    if keepalive is None:
        keepalive = limits.max_connections
    if keepalive is not None:
        keywords["limit"] = keepalive
    if limits.max_connections is not None:
        keywords["max_in_flight"] = limits.max_connections
    return limits


def check_seconds(name: str, value: object, *, zero: bool = False) -> float:
    """Option `name` as float seconds: > 0 (>= 0 if `zero`), <= `MAX_SECONDS`.

    `TypeError` unless `value` is a real number (bool is not one);
    `ValueError` if out of range, nan and inf included.
    """
    if not _is_number(value):
        raise TypeError(f"{name} must be a number of seconds, not {_show(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int (or Fraction) past 1e308: far too long anyway
        number = math.inf
    # Written so that nan, for which every comparison is false, fails.
    low = number >= 0 if zero else number > 0
    if not (low and number <= MAX_SECONDS):
        least = ">= 0" if zero else "> 0"
        raise ValueError(
            f"{name} must be seconds {least} and <= {MAX_SECONDS:.0f} (365 days), "
            f"not {_show(value)}"
        )
    return number


def check_count(name: str, value: object, least: int, most: int | None = None) -> int:
    """Option `name` as an int from `least` to `most` (no bound if None).

    `TypeError` unless `value` is an integer (bool is not one: `True` is a
    slip, not a count); `ValueError` if out of range.
    """
    # numbers.Integral takes int and the likes of numpy's ints, not floats.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, not {_show(value)}")
    count = operator.index(value)
    if count < least or (most is not None and count > most):
        bounds = f">= {least}" if most is None else f"from {least} to {most}"
        raise ValueError(f"{name} must be an int {bounds}, not {_show(count)}")
    return count


def check_share(name: str, value: object) -> float:
    """Option `name` as a share from 0 to 1 (0.5: half)."""
    if not _is_number(value):
        raise TypeError(f"{name} must be a number from 0 to 1, not {_show(value)}")
    share = float(value)
    if not 0 <= share <= 1:  # false for nan too
        raise ValueError(f"{name} must be a number from 0 to 1, not {_show(value)}")
    return share


def check_timeout(value: object) -> float | httpx.Timeout | None:
    """A `timeout` checked: seconds, None, or an httpx.Timeout."""
    if value is None:
        return None
    if isinstance(value, httpx.Timeout):
        # httpx takes any value for a part; an inf or a str would fail only
        # inside the first request.
        for part, seconds in value.as_dict().items():
            if seconds is not None:
                check_seconds(f"timeout.{part}", seconds)
        return value
    if not _is_number(value):
        raise TypeError(
            f"timeout must be seconds, None or an httpx.Timeout, not {_show(value)}"
        )
    return check_seconds("timeout", value)


def _is_number(value: object) -> TypeGuard[numbers.Real]:
    """Whether `value` is a real number; a bool is not, though an int subclass."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _show(value: object) -> str:
    """A short repr of `value` for a message."""
    try:
        return _SHORT.repr(value)
    except Exception:  # a repr that raises, or an int too long to print
        return f"<{type(value).__name__}>"


def tls_context(options: Mapping[str, Any]) -> ssl.SSLContext:
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
