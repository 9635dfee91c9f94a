"""The errors jsonrest raises.

Every error is a subclass of `Error`, so one `except jsonrest.Error` catches them all::

    Error
    ├── StatusError       a host answered with a status other than 2xx
    ├── DecodeError       a JSON content type arrived with a body that is not JSON
    ├── BodyTooLarge      a body grew past the `max_body` option
    ├── TransportError    no complete answer from a host: refused, reset, timed out
    │   └── Timeout       the call ran out of time (its timeout or its deadline)
    ├── NoHostAvailable   no host may be chosen for the call
    └── BroadcastError    some hosts of a broadcast failed (also an ExceptionGroup)

Bad arguments from the caller are not `Error`s: they raise `ValueError` or
`TypeError` before anything is sent.
"""

from __future__ import annotations

import sys
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


class Error(Exception):
    """Base class of every error jsonrest raises about a request."""


class StatusError(Error):
    """A host answered with a status other than 2xx.

    `status`, `reason` and the evaluated `body` (JSON, text or None) describe the
    answer; `response` is the whole `Response`.
    """

    def __init__(self, response: Response, body: Any) -> None:
        self.response = response
        self.status = response.status
        self.reason = response.reason
        self.body = body
        super().__init__(f"{response.status} {response.reason} from {response.host}")


class DecodeError(Error):
    """A response declared a JSON content type but its body is not valid JSON."""

    def __init__(self, message: str, *, host: str, status: int) -> None:
        self.host = host
        self.status = status
        super().__init__(message)


class BodyTooLarge(Error):
    """A response body (after content-encoding) grew past the `max_body` option."""

    def __init__(self, host: str, limit: int) -> None:
        self.host = host
        self.limit = limit
        super().__init__(f"response body from {host} exceeds max_body={limit} bytes")


class TransportError(Error):
    """No complete answer arrived: the connection failed, dropped or timed out.

    `host` is the last host tried and `hosts` every host tried in order; `errors`
    holds the error of each attempt. The underlying httpx exception, when there is
    one, is the `__cause__`.
    """

    def __init__(
        self,
        message: str,
        *,
        host: str,
        hosts: Sequence[str] = (),
        errors: Sequence[BaseException] = (),
    ) -> None:
        self.host = host
        self.hosts = tuple(hosts) or (host,)
        self.errors = tuple(errors)
        super().__init__(message)


class Timeout(TransportError):
    """The call ran out of time: an attempt's timeout or the whole call's deadline."""


class NoHostAvailable(Error):
    """No host may be chosen: there are none, or every one was excluded."""


class BroadcastError(ExceptionGroup[Error], Error):
    """Some hosts of a broadcast failed at the transport level.

    It is an `ExceptionGroup` of the `TransportError`s (each with `.host`), so
    `except*` works, and a `jsonrest.Error`. `responses` maps each host that did
    answer to its `Response`, so nothing that arrived is lost.
    """

    responses: dict[str, Response]

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
