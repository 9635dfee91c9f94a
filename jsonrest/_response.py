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
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _charset(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"') or "utf-8"
    return "utf-8"


class Response:
    """One completed response: status, headers and the whole (decoded) body.

    `bool(response)` is True for a 2xx status. Calling it returns the evaluated
    body (JSON, text, or None when empty) or raises `StatusError` for any other
    status. The evaluation is done once and cached.

    `keys` is None, except in the responses of a `Shards.multicast`: there it
    is the frozenset of the requested keys this host's answer stands for, each
    requested key in exactly one response's `keys`.
    """

    __slots__ = (
        "_value",
        "body",
        "elapsed",
        "headers",
        "host",
        "keys",
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
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = (
            headers if isinstance(headers, httpx.Headers) else httpx.Headers(headers)
        )
        self.body = body
        self.host = host
        self.elapsed = elapsed
        self.keys: frozenset[Hashable] | None = None
        self._value: Any = _UNSET

    def __bool__(self) -> bool:
        return 200 <= self.status < 300

    def __repr__(self) -> str:
        return f"<Response [{self.status} {self.reason}] from {self.host}>"

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
                return json.loads(self.body)
            # JSONDecodeError, UnicodeDecodeError, and RecursionError for
            # arrays or objects nested deeper than the interpreter's stack.
            except (ValueError, RecursionError) as exc:
                if not self:
                    return self.body.decode("utf-8", "replace")
                raise DecodeError(
                    f"invalid JSON body from {self.host} (status {self.status}): {exc}",
                    host=self.host,
                    status=self.status,
                ) from exc
        try:
            return self.body.decode(_charset(content_type), "replace")
        # An unknown charset name, or a codec that is not a plain text encoding
        # ("idna", "punycode", "undefined") and fails even with "replace".
        except (LookupError, ValueError):
            return self.body.decode("utf-8", "replace")

    def __call__(self) -> Any:
        """Return the evaluated body; raise `StatusError` unless the status is 2xx."""
        value = self.value
        if not self:
            raise StatusError(self, value)
        return value
