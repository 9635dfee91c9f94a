"""Checking a Resource's options once, at construction, and turning them into
the keywords of an httpx client."""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

import httpx

__all__ = ["DEFAULT_LIMIT", "DEFAULT_MAX_BODY", "DEFAULT_TIMEOUT", "client_options"]

DEFAULT_TIMEOUT = 5.0
DEFAULT_LIMIT = 20
DEFAULT_MAX_BODY = 64 * 1024 * 1024
# jsonrest builds every URL itself, so that a request cannot leave its host.
_OURS = frozenset({"base_url"})


@cache
def _httpx_keywords() -> frozenset[str]:
    names = set(inspect.signature(httpx.Client.__init__).parameters)
    names &= set(inspect.signature(httpx.AsyncClient.__init__).parameters)
    return frozenset(names - {"self"} - _OURS)


def client_options(options: dict[str, Any]) -> tuple[int | None, dict[str, Any]]:
    """Split a Resource's options into `max_body` and httpx client keywords.

    Unknown keywords raise `TypeError` now rather than at the first request.
    """
    options = dict(options)
    timeout = options.pop("timeout", DEFAULT_TIMEOUT)
    limit = options.pop("limit", DEFAULT_LIMIT)
    max_body = options.pop("max_body", DEFAULT_MAX_BODY)
    unknown = sorted(set(options) - _httpx_keywords())
    if unknown:
        raise TypeError(f"unexpected option(s): {', '.join(unknown)}")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValueError(f"limit must be an int >= 0, not {limit!r}")
    if max_body is not None and (not isinstance(max_body, int) or max_body < 0):
        raise ValueError(f"max_body must be an int >= 0 or None, not {max_body!r}")
    numeric = isinstance(timeout, (int, float)) and timeout > 0
    if not (numeric or timeout is None or isinstance(timeout, httpx.Timeout)):
        raise ValueError(
            f"timeout must be seconds > 0, None or httpx.Timeout: {timeout!r}"
        )
    options["timeout"] = timeout
    # max_connections stays unbounded: a full pool would queue requests inside
    # httpx, where jsonrest could not see or balance them.
    options["limits"] = httpx.Limits(
        max_connections=None, max_keepalive_connections=limit
    )
    return max_body, options
