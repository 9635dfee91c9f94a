"""The failover of one unicast, as plain decisions both twins drive.

`Attempts` answers, after each attempt: is this failure retried on another
host, is the host to blame, how much time is left. It never sends anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from ._exceptions import Error, Timeout, TransportError
from ._faults import Fault, classify
from ._request import Request

__all__ = ["RETRY_STATUSES", "Attempts", "attempt_timeout"]

#: Statuses after which an idempotent request is tried on another host.
RETRY_STATUSES = frozenset({502, 503, 504})


def attempt_timeout(configured: Any, remaining: float | None) -> Any:
    """The timeout of one attempt when only `remaining` seconds are left.

    Returns None when the configured timeout already fits.
    """
    if remaining is None:
        return None
    remaining = max(remaining, 0.001)
    if isinstance(configured, httpx.Timeout):
        parts = {
            name: remaining if value is None else min(value, remaining)
            for name, value in configured.as_dict().items()
        }
        return httpx.Timeout(**parts)
    if configured is None or configured > remaining:
        return remaining
    return None


class Attempts:
    """Bookkeeping and verdicts for the attempts of one unicast.

    A failure is retried on a host not yet tried, while retries remain, when
    nothing can have reached the host (no connection was made), or when the
    request is idempotent and the host timed out or dropped the connection.
    """

    def __init__(
        self,
        request: Request,
        *,
        retries: int,
        deadline: float | None,
        idempotent: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.request = request
        self.idempotent = request.idempotent if idempotent is None else idempotent
        self.retries = retries
        self.deadline = deadline
        self.clock = clock
        self.expires = None if deadline is None else clock() + deadline
        self.tried: list[str] = []
        self.errors: list[Error] = []

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None without one)."""
        return None if self.expires is None else self.expires - self.clock()

    def may_retry(self) -> bool:
        """Whether another attempt is allowed by the retry count and the deadline."""
        remaining = self.remaining()
        return len(self.tried) <= self.retries and (remaining is None or remaining > 0)

    def start(self, host: str) -> None:
        """An attempt on `host` begins."""
        self.tried.append(host)

    def failed(
        self, host: str, error: Error, capped: bool = False
    ) -> tuple[bool, bool]:
        """Record a failed attempt; return (retry elsewhere, host at fault).

        `capped` says the attempt's timeout was shortened to fit the deadline.
        """
        self.errors.append(error)
        fault = classify(error) if isinstance(error, TransportError) else Fault.LOCAL
        # A timeout cut short by our own deadline says nothing about the host.
        at_fault = fault.host_at_fault and not (fault is Fault.TIMEOUT and capped)
        safe = fault.nothing_sent or (
            self.idempotent and fault in (Fault.TIMEOUT, Fault.DROPPED)
        )
        return safe and self.may_retry(), at_fault

    def retry_status(self, status: int) -> bool:
        """Whether a response with `status` is retried on another host."""
        return self.idempotent and status in RETRY_STATUSES and self.may_retry()

    @property
    def path(self) -> str:
        """The request's path without its query (which may hold credentials)."""
        return self.request.target.split("?", 1)[0]

    def _what(self) -> str:
        return f"{self.request.method} {self.path}"

    def deadline_exceeded(self) -> Timeout:
        """The error for a call that ran out of its deadline."""
        tried = ", ".join(self.tried) or "no host"
        return Timeout(
            f"{self._what()}: deadline of {self.deadline} s exceeded (tried {tried})",
            host=self.tried[-1] if self.tried else "",
            hosts=self.tried,
            errors=self.errors,
        )

    def failure(self) -> Error:
        """The error that ends the call after its last failed attempt.

        A single failure is raised as it is; several become one
        `TransportError` (a `Timeout` if the last one was) naming every host.
        """
        last = self.errors[-1]
        if len(self.errors) == 1 or not isinstance(last, TransportError):
            return last
        pairs = zip(self.tried, self.errors, strict=False)
        detail = "; ".join(f"{host}: {error}" for host, error in pairs)
        kind = Timeout if isinstance(last, Timeout) else TransportError
        error = kind(
            f"{self._what()} failed on {len(self.tried)} hosts ({detail})",
            host=self.tried[-1],
            hosts=self.tried,
            errors=self.errors,
        )
        error.__cause__ = last.__cause__
        return error
