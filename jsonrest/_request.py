"""A request checked and encoded once, before any traffic, then sent to any host."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

import httpx

from ._hosts import check_path

__all__ = [
    "IDEMPOTENT",
    "Request",
    "body_argument",
    "check_headers",
    "encode_json",
    "prepare",
    "query_params",
]

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
# \Z, not $: "$" also matches before a final newline ("X-A\n", "GET\n").
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# Control characters (CR, LF and NUL above all: header injection), except
# HTAB; and leading or trailing blanks, which h11 refuses only when sending.
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|^[ \t]|[ \t]$")
_JSON_HEADERS = {"content-type": "application/json"}
# Known good: skips the token check on the hot path.
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

Headers = Mapping[str, str] | httpx.Headers


class Request(NamedTuple):
    """What to send, independent of the host: method, path with query, body."""

    method: str
    target: str
    content: bytes | None
    headers: Headers | None

    @property
    def idempotent(self) -> bool:
        """Whether the method may be sent again without changing the outcome."""
        return self.method in IDEMPOTENT


def encode_json(body: Any) -> bytes:
    """Serialize `body` as compact UTF-8 JSON; `TypeError` if it cannot be."""
    try:
        return json.dumps(
            body, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode()
    except (TypeError, ValueError) as exc:
        # Circular references and NaN raise ValueError; both mean "not JSON".
        raise TypeError(f"body is not JSON serializable: {exc}") from exc
    except RecursionError as exc:
        raise ValueError("body is nested too deeply to encode as JSON") from exc


def check_headers(headers: Headers) -> None:
    """Refuse header names that are not tokens, and values with CR, LF, another
    control character or a leading or trailing blank."""
    items = headers.items()
    for name, value in items:
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise ValueError(f"invalid header name {name!r}")
        if not isinstance(value, str):
            raise TypeError(f"header {name!r} value must be a str, not {type(value)}")
        if _BAD_VALUE.search(value):
            raise ValueError(
                f"header {name!r} value contains CR, LF or another control "
                "character, or begins or ends with a blank"
            )


#: httpx's per-request keywords that jsonrest does not take per call, and what
#: to do instead. They are never sent as query parameters by mistake.
_NOT_PER_CALL = {
    "data": "send a JSON body (json=) or bytes (content=)",
    "files": "send a JSON body (json=) or bytes (content=)",
    "auth": "give auth= to the Resource, or an Authorization header (headers=)",
    "cookies": "give cookies= to the Resource, or a Cookie header (headers=)",
    "follow_redirects": "give follow_redirects= to the Resource",
    "extensions": "give transport= or event_hooks= to the Resource",
    "body": "pass the JSON body as json= (or positionally)",
}


def query_params(params: Any, query: Mapping[str, Any]) -> Any:
    """The query of a call: `params`, then the `query` keywords of the concise
    style (`get("/search", q="plum")`).

    A keyword that httpx users pass as a request option is refused with a
    `TypeError` that says what to do, never sent as a query parameter.
    """
    for name in query:
        advice = _NOT_PER_CALL.get(name)
        if advice is not None:
            raise TypeError(
                f"{name}= is not a per-call option: {advice}; for a query "
                f"parameter named {name!r}, pass params={{{name!r}: ...}}"
            )
    if not query:
        return params
    if not params:
        return query
    return [
        *httpx.QueryParams(params).multi_items(),
        *httpx.QueryParams(query).multi_items(),
    ]


def body_argument(positional: Any, query: dict[str, Any]) -> Any:
    """The JSON body of a verb, given positionally or as `json=` (taken out of
    the `query` keywords); `TypeError` when given both ways."""
    if "json" in query:
        keyword = query.pop("json")
        if positional is not None:
            raise TypeError("give the JSON body positionally or as json=, not both")
        return keyword
    return positional


def prepare(
    method: str,
    path: str,
    body: Any = None,
    params: Any = None,
    headers: Headers | None = None,
    content: bytes | str | None = None,
) -> Request:
    """Check and encode a request once, so that bad input fails before any traffic.

    `body` is sent as JSON; `content` as it is (bytes, or str as UTF-8), with
    whatever content-type `headers` give. Params with list values repeat
    (`b=x&b=y`); params may also be given in the path's own query string.
    """
    if method not in _METHODS and (
        not isinstance(method, str) or not _TOKEN.match(method)
    ):
        raise ValueError(f"invalid method {method!r}")
    target = check_path(path)
    if params:
        try:
            query = str(httpx.QueryParams(params))
        except (TypeError, ValueError):
            raise
        except Exception as exc:  # httpx trips on some bad types (5, ("a",))
            raise TypeError(
                "params must be a mapping, a list of pairs or a query string, "
                f"not {type(params).__name__}"
            ) from exc
        if query:
            target += ("&" if "?" in target else "?") + query
    if headers:
        if not isinstance(headers, (Mapping, httpx.Headers)):
            raise TypeError(
                f"headers must be a mapping or httpx.Headers, not {type(headers)}"
            )
        check_headers(headers)
    if content is not None:
        if body is not None:
            raise TypeError("give a JSON body (json=) or content=, not both")
        if isinstance(content, str):
            content = content.encode()
        elif isinstance(content, (bytes, bytearray, memoryview)):
            content = bytes(content)
        else:
            raise TypeError(
                f"content must be bytes or str, not {type(content).__name__}"
            )
    elif body is not None:
        content = encode_json(body)
        if not headers:
            headers = _JSON_HEADERS
        elif "content-type" not in (merged := httpx.Headers(headers)):
            merged["content-type"] = "application/json"
            headers = merged
    return Request(method.upper(), target, content, headers)
