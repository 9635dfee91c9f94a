"""`Response`: one completed answer from one host, and how its body is evaluated."""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from typing import Any

import httpx

from ._exceptions import DecodeError, StatusError

__all__ = ["Response", "is_json"]

_UNSET: Any = object()


def is_json(content_type: str) -> bool:
    """Whether a content type is JSON: `application/json` or `application/*+json`."""
    known = _json_types.get(content_type)
    if known is not None:
        return known
    media = content_type.partition(";")[0].strip().lower()
    answer = media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )
    if len(_json_types) < 64:  # a host sends a few; a bound against the odd one
        _json_types[content_type] = answer
    return answer


_json_types: dict[str, bool] = {}
_decoder = json.JSONDecoder()


def _loads(body: bytes) -> Any:
    """`json.loads(body)`, but for the common body, UTF-8 that opens with an
    ASCII character, without the work of detecting UTF-16 or -32 first."""
    if len(body) > 1 and 0 < body[0] < 0x80 and body[1]:
        return _decoder.decode(body.decode("utf-8", "surrogatepass"))
    return json.loads(body)


def _charset(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"') or "utf-8"
    return "utf-8"


def _decode(body: bytes, content_type: str) -> str:
    """`body` as text, by the charset of `content_type`."""
    try:
        return body.decode(_charset(content_type), "replace")
    # An unknown charset name, or a codec that is not a plain text encoding
    # ("idna", "punycode", "undefined") and fails even with "replace".
    except (LookupError, ValueError):
        return body.decode("utf-8", "replace")


class Response:
    """One completed response: status, headers and the whole (decoded) body.

    `bool(response)` is True for a 2xx status. Calling it returns the evaluated
    body (`value`: JSON, text, or None when empty) or raises `StatusError` for
    any other status. The evaluation is done once and cached.

    What an httpx user reaches for is here too: `status_code`, `content`,
    `text`, `json()`, `is_success` and `raise_for_status()`.
    """

    __slots__ = (
        "_value",
        "body",
        "elapsed",
        "headers",
        "host",
        "keys",
        "method",
        "path",
        "reason",
        "status",
    )

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        *,
        headers: Mapping[str, str] | httpx.Headers | None = None,
        reason: str = "",
        host: str = "",
        elapsed: float = 0.0,
        method: str = "",
        path: str = "",
    ) -> None:
        self.status = status
        """The HTTP status code (also `status_code`)."""
        self.reason = reason
        """The reason phrase ("Not Found"), or "" when the host sent none."""
        self.headers = (
            headers if isinstance(headers, httpx.Headers) else httpx.Headers(headers)
        )
        """The response headers (`httpx.Headers`: case-insensitive)."""
        self.body = body
        """The body as bytes, content-encoding (gzip, ...) undone (also `content`)."""
        self.host = host
        """The host that answered, as the resource names it (`name:port`)."""
        self.elapsed = elapsed
        """Seconds, as a float, of the exchange alone: from sending the request
        (getting a connection included) to the last byte of the body; not the
        making of the client, nor a wait for a turn under `max_in_flight`."""
        self.method = method
        """The request's method ("GET"); "" when not known."""
        self.path = path.partition("?")[0]
        """The request's path, without its query (which may carry credentials)."""
        self.keys: frozenset[Hashable] | None = None
        """None, except in the responses of a `Shards.multicast`: there the
        frozenset of the requested keys this host's answer stands for, each
        requested key in exactly one response's `keys`."""
        self._value: Any = _UNSET

    def __bool__(self) -> bool:
        return 200 <= self.status < 300

    def __repr__(self) -> str:
        return f"<Response [{self.status} {self.reason}] from {self.host}>"

    @property
    def status_code(self) -> int:
        """The HTTP status code, as httpx names it: the same as `status`."""
        return self.status

    @property
    def content(self) -> bytes:
        """The body as bytes, as httpx names it: the same as `body`."""
        return self.body

    @property
    def is_success(self) -> bool:
        """Whether the status is 2xx: the same as `bool(response)`."""
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        """The body decoded as text, whatever its content type: by the charset
        of the `Content-Type` (UTF-8 when it names none or an unknown one),
        undecodable bytes replaced by U+FFFD."""
        return _decode(self.body, self.headers.get("content-type", ""))

    def json(self, **kwargs: Any) -> Any:
        """The body decoded as JSON, whatever the content type says (a host may
        send JSON as `text/plain`); `kwargs` go to `json.loads`.

        Decoded on each call, whatever the status. Raises `DecodeError`, naming
        the request, host, status and content type, when the body is not JSON
        (an empty body is not).
        """
        try:
            return json.loads(self.body, **kwargs)
        # As in `_evaluate`; and a body of bytes that are not UTF-8 (or -16/-32).
        except (ValueError, RecursionError) as exc:
            content_type = self.headers.get("content-type") or "none"
            why = exc if self.body else "the body is empty"
            raise DecodeError(
                f"{self._what()}body from {self.host} (status {self.status},"
                f" content type {content_type}) is not JSON: {why}",
                host=self.host,
                status=self.status,
            ) from exc

    def raise_for_status(self) -> Response:
        """Return this response if its status is 2xx, as httpx does; else raise
        `StatusError` (with the evaluated body)."""
        if not self:
            raise StatusError(self, self.value)
        return self

    def _what(self) -> str:
        """The request, as a message begins with it ("GET /items: ")."""
        return f"{self.method} {self.path}: " if self.method else ""

    @property
    def value(self) -> Any:
        """The evaluated body, whatever the status: JSON, text or None.

        Raises `DecodeError` when a 2xx response declares JSON but is not. For an
        error status, an undecodable JSON body evaluates to its text instead, so
        the `StatusError` that follows still carries what the host said.
        """
        if self._value is _UNSET:
            self._value = self._evaluate()
        return self._value

    def _evaluate(self) -> Any:
        if not self.body:
            return None
        content_type = self.headers.get("content-type", "")
        if is_json(content_type):
            try:
                return _loads(self.body)
            # JSONDecodeError, UnicodeDecodeError, and RecursionError for
            # arrays or objects nested deeper than the interpreter's stack.
            except (ValueError, RecursionError) as exc:
                if not self:
                    return self.body.decode("utf-8", "replace")
                raise DecodeError(
                    f"{self._what()}invalid JSON body from {self.host}"
                    f" (status {self.status}): {exc}",
                    host=self.host,
                    status=self.status,
                ) from exc
        return _decode(self.body, content_type)

    def __call__(self) -> Any:
        """Return the evaluated body; raise `StatusError` unless the status is 2xx."""
        value = self.value
        if not self:
            raise StatusError(self, value)
        return value
