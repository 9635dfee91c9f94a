"""`Deadline`: the one form of a call's time limit, asked for the time left."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["SLACK", "Deadline"]

#: How far past its deadline a call may end: the time to notice the deadline,
#: close what it was doing and raise. Documented in docs/failover.md.
SLACK = 0.25


class Deadline:
    """A point in time a call must not outlive, made once per call.

    `seconds` is the limit as the caller gave it (for messages); `expires` the
    clock value at which it ends. The clock is injectable for tests.
    """

    __slots__ = ("clock", "expires", "seconds")

    def __init__(
        self, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self.expires = clock() + seconds

    def __repr__(self) -> str:
        return f"Deadline({self.seconds} s, {self.remaining():.3f} s left)"

    def remaining(self) -> float:
        """Seconds left; zero or less once it has passed."""
        return self.expires - self.clock()

    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return self.clock() >= self.expires

    def message(self, what: str) -> str:
        """The message of the error a call past this deadline raises."""
        return f"{what}: deadline of {self.seconds} s exceeded"
