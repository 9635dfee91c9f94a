"""What a failure means: was anything sent, is the host to blame, may it be retried.

The failover decisions are plain functions here so both twins share them and
they are tested without sockets.
"""

from __future__ import annotations

import enum

import httpx

from ._exceptions import DecodeError, Error, Timeout, TransportError

__all__ = ["Fault", "as_error", "classify", "may_resend"]


class Fault(enum.Enum):
    """The kinds of transport failure that failover tells apart."""

    #: No connection could be made (refused, connect timeout): nothing was sent.
    CONNECT = "connect"
    #: Our own pool had no free connection in time: nothing sent, not the host's fault.
    POOL = "pool"
    #: The host did not answer in time once the request may have been sent.
    TIMEOUT = "timeout"
    #: The connection broke or the host spoke bad HTTP after bytes may have been sent.
    DROPPED = "dropped"
    #: A failure on our side (unsupported protocol, redirects): never retried.
    LOCAL = "local"

    @property
    def nothing_sent(self) -> bool:
        """Whether the request certainly never reached the host."""
        return self in (Fault.CONNECT, Fault.POOL)

    @property
    def host_at_fault(self) -> bool:
        """Whether the failure counts against the host's health."""
        return self in (Fault.CONNECT, Fault.TIMEOUT, Fault.DROPPED)


def classify(exc: BaseException) -> Fault:
    """The fault kind of an httpx exception (or of a jsonrest error caused by one)."""
    if isinstance(exc, Error) and exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return Fault.CONNECT
    if isinstance(exc, httpx.PoolTimeout):
        return Fault.POOL
    if isinstance(exc, httpx.TimeoutException):
        return Fault.TIMEOUT
    if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError)):
        return Fault.DROPPED
    return Fault.LOCAL


def may_resend(error: BaseException, idempotent: bool) -> bool:
    """Whether a request that failed with `error` may be sent to another host.

    Always when it certainly never reached the host; when it may have, only if
    sending it twice does no harm (`idempotent`) and the host timed out or
    dropped the connection. Anything else (a local failure) is never resent.
    """
    fault = classify(error) if isinstance(error, TransportError) else Fault.LOCAL
    return fault.nothing_sent or (
        idempotent and fault in (Fault.TIMEOUT, Fault.DROPPED)
    )


def _detail(exc: BaseException) -> str:
    # On trio a failed TLS handshake surfaces as an httpx error with no message,
    # wrapping a BrokenResourceError with none either: the reason (say
    # CERTIFICATE_VERIFY_FAILED) is further down the chain.
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if str(cause):
            return str(cause)
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return type(exc).__name__


def as_error(
    exc: httpx.HTTPError,
    host: str,
    status: int = 0,
    *,
    method: str = "",
    path: str = "",
) -> Error:
    """The jsonrest error for an httpx exception raised while talking to `host`.

    `method` and `path` name the request in the message ("GET /items: ..."); a
    query in `path` is left out, as it may carry credentials.
    """
    name = type(exc).__name__
    detail = _detail(exc)
    what = f"{method} {path.partition('?')[0]}: " if method else ""
    if isinstance(exc, httpx.DecodingError):
        return DecodeError(
            f"{what}bad content-encoding from {host}: {detail}",
            host=host,
            status=status,
        )
    if isinstance(exc, httpx.TimeoutException):
        return Timeout(f"{what}{name} talking to {host}: {detail}", host=host)
    return TransportError(f"{what}{name} talking to {host}: {detail}", host=host)
