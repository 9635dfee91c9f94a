"""The errors jsonrest raises.

Every error is a subclass of `Error`, so one `except jsonrest.Error` catches them all::

    Error
    ├── StatusError       a host answered with a status other than 2xx
    ├── DecodeError       a body that is not JSON, or whose coding cannot be undone
    ├── BodyTooLarge      a body grew past the `max_body` option
    ├── TransportError    no complete answer from a host: refused, reset, timed out
    │   └── Timeout       the call ran out of time (its timeout or its deadline)
    ├── NoHostAvailable   no host may be chosen for the call
    └── BroadcastError    some hosts of a broadcast failed (also an ExceptionGroup)

Every error has `host`: the host it is about, or None where no single host
applies (`NoHostAvailable`, `BroadcastError`). Messages name the request by its
method and path, never its query (which may carry credentials).

Bad arguments from the caller are not `Error`s: they raise `ValueError` or
`TypeError` before anything is sent.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if sys.version_info < (3, 11):  # pragma: no cover - depends on the interpreter
    from exceptiongroup import ExceptionGroup

if TYPE_CHECKING:
    from ._response import Response

__all__ = [
    "BodyTooLarge",
    "BroadcastError",
    "DecodeError",
    "Error",
    "NoHostAvailable",
    "StatusError",
    "Timeout",
    "TransportError",
]

#: The most characters of a host's own message that a `StatusError` quotes.
EXCERPT = 200
# Where a JSON error body usually says what went wrong, in order of preference;
# and, for an object under "error" (Elasticsearch, Google APIs), inside it.
_MESSAGE_KEYS = ("message", "error", "detail")
_INNER_KEYS = ("message", "reason", "detail")


class Error(Exception):
    """Base class of every error jsonrest raises about a request."""

    host: str | None = None
    """The host the error is about; None where no single host applies."""


def _said(body: Mapping[Any, Any], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _one_line(text: str) -> str:
    """`text` on one line: control, format and separator characters (CR, LF,
    escapes, bidi overrides) become blanks, runs of blanks one; cut to
    `EXCERPT` characters."""
    text = text[: EXCERPT * 8]  # enough to fill the excerpt past some blanks
    clean = "".join(
        " " if unicodedata.category(char)[0] in "CZ" else char for char in text
    )
    line = " ".join(clean.split())
    if len(line) > EXCERPT:
        line = line[: EXCERPT - 3].rstrip() + "..."
    return line


def server_message(response: Response, body: Any) -> str:
    """What the host said about the failure, as one short line ("" for nothing).

    A JSON object's "message", "error" or "detail" string (or that of an object
    under "error"); else the body's text. Truncated to `EXCERPT` characters,
    with no control characters. A binary body says nothing.
    """
    text: str | None = None
    if isinstance(body, Mapping):
        text = _said(body, _MESSAGE_KEYS)
        inner = body.get("error")
        if text is None and isinstance(inner, Mapping):
            text = _said(inner, _INNER_KEYS)
    if text is None:
        if body is None or isinstance(body, (bytes, bytearray, memoryview)):
            return ""
        text = body if isinstance(body, str) else response.text
    return _one_line(text)


class StatusError(Error):
    """A host answered with a status other than 2xx.

    Its message names the request, the status, the host and what the host
    said, e.g. ``PUT /v3/kv/put: 400 Bad Request from etcd-1:2379: etcdserver:
    key is not provided`` (see `server_message`).
    """

    host: str

    def __init__(self, response: Response, body: Any) -> None:
        self.response = response
        """The whole `Response`."""
        self.status = response.status
        """The HTTP status code."""
        self.reason = response.reason
        """The reason phrase ("Not Found"), or "" when the host sent none."""
        self.body = body
        """The evaluated body: JSON, text, or None when empty."""
        self.host = response.host
        """The host that answered."""
        self.method = response.method
        """The request's method ("" if the response does not know it)."""
        self.path = response.path
        """The request's path, without its query ("" if unknown)."""
        what = f"{self.method} {self.path}: " if self.method else ""
        status = f"{self.status} {self.reason}".rstrip()
        message = f"{what}{status} from {self.host}" if self.host else what + status
        said = server_message(response, body)
        super().__init__(f"{message}: {said}" if said else message)


class DecodeError(Error):
    """A body is not what it claims to be: a JSON content type (or a call of
    `Response.json`) with a body that is not JSON, or a content coding that
    could not be undone."""

    host: str

    def __init__(self, message: str, *, host: str, status: int) -> None:
        self.host = host
        """The host that answered."""
        self.status = status
        """The status of its answer (0 if none had arrived)."""
        super().__init__(message)


class BodyTooLarge(Error):
    """A response body (after content-encoding) grew past the `max_body` option."""

    host: str

    def __init__(self, host: str, limit: int) -> None:
        self.host = host
        """The host that answered."""
        self.limit = limit
        """The `max_body` option, in bytes."""
        super().__init__(f"response body from {host} exceeds max_body={limit} bytes")


class TransportError(Error):
    """No complete answer arrived: the connection failed, dropped or timed out.

    The message names the request (method and path) and the host. The
    underlying httpx exception, when there is one, is the `__cause__`.
    """

    host: str

    def __init__(
        self,
        message: str,
        *,
        host: str,
        hosts: Sequence[str] = (),
        errors: Sequence[BaseException] = (),
    ) -> None:
        self.host = host
        """The last host tried."""
        self.hosts = tuple(hosts) or (host,)
        """Every host tried, in order."""
        self.errors = tuple(errors)
        """The error of each attempt, in order (empty for a single attempt)."""
        super().__init__(message)


class Timeout(TransportError):
    """The call ran out of time: an attempt's timeout or the whole call's deadline."""


class NoHostAvailable(Error):
    """No host may be chosen, and nothing was sent. The message says why: none
    was given, the priority of every one is None, every one was discarded
    since the call began, or (`Shards`) no usable host holds a key.

    `host` is None.
    """


class BroadcastError(ExceptionGroup[Error], Error):
    """Some hosts of a broadcast failed at the transport level.

    It is an `ExceptionGroup` of the `TransportError`s (each with `.host`), so
    `except*` works, and a `jsonrest.Error`. `responses` maps each host that did
    answer to its `Response`, so nothing that arrived is lost. Its own `host`
    is None.
    """

    responses: dict[str, Response]
    """Each host that answered, whatever the status, to its `Response`."""

    def __new__(
        cls,
        message: str,
        exceptions: Sequence[Error],
        responses: Mapping[str, Response] | None = None,
    ) -> BroadcastError:
        self = super().__new__(cls, message, exceptions)
        self.responses = dict(responses or {})
        return self

    def __init__(
        self,
        message: str,
        exceptions: Sequence[Error],
        responses: Mapping[str, Response] | None = None,
    ) -> None:
        super().__init__(message, exceptions)

    def derive(  # type: ignore[override]
        self, excs: Sequence[Error]
    ) -> BroadcastError:
        """Keep `responses` when `except*` or `split` makes a partial copy."""
        return BroadcastError(self.message, excs, self.responses)
