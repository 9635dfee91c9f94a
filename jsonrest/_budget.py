"""`RetryBudget`: how many retries and hedges an instance may send, I/O free.

Finagle's rule: over any `window` (10 s), retries may be `ratio` (20%) of the
calls begun, plus a reserve of `per_second` (10) a second, so that a cluster
failing every request receives about 1.2 times its offered load rather than
`1 + retries` times, while a quiet client may still retry a few calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ._options import check_seconds

__all__ = ["RetryBudget"]

#: Slots the window is cut into: deposits and withdrawals expire slot by slot.
SLOTS = 10


class RetryBudget:
    """A budget of retries shared by every call of an instance (thread-safe).

    Each call deposits one; each retry or hedge withdraws one and is allowed
    while `balance()` is at least one: `per_second * window` plus `ratio` times
    the calls of the last `window` seconds, minus the retries and hedges of
    the same window. Pass one to several instances to share it among them;
    `retry_budget=None` sends every retry that `retries` allows.
    """

    def __init__(
        self,
        ratio: float = 0.2,
        per_second: float = 10.0,
        window: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
            raise TypeError(f"ratio must be a number, not {ratio!r}")
        if not 0 <= ratio <= 1000:
            raise ValueError(f"ratio must be from 0 to 1000, not {ratio!r}")
        self.ratio = float(ratio)
        self.per_second = check_seconds("per_second", per_second, zero=True)
        self.window = check_seconds("window", window)
        self.clock = clock
        self._width = self.window / SLOTS
        self._calls = [0] * SLOTS
        self._retries = [0] * SLOTS
        self._origin = clock()  # windows are counted from the budget's making
        self._slot = 0
        self._lock = threading.Lock()
        #: Retries and hedges refused since the budget was made.
        self.refused = 0

    def __repr__(self) -> str:
        return (
            f"RetryBudget(ratio={self.ratio:g}, per_second={self.per_second:g}, "
            f"window={self.window:g})"
        )

    def _advance(self) -> int:
        """Move to the slot of now, emptying the slots that expired; its index.

        Called with the lock held.
        """
        slot = int((self.clock() - self._origin) / self._width)
        if slot != self._slot:
            for step in range(min(slot - self._slot, SLOTS)):
                index = (self._slot + 1 + step) % SLOTS
                self._calls[index] = self._retries[index] = 0
            self._slot = slot
        return slot % SLOTS

    def deposit(self) -> None:
        """A call begins."""
        slot = int((self.clock() - self._origin) / self._width)
        if slot == self._slot:
            # The common case, without the lock: a deposit lost to a race
            # only makes the budget a little stricter.
            self._calls[slot % SLOTS] += 1
            return
        with self._lock:
            self._calls[self._advance()] += 1

    def _balance(self) -> float:
        return (
            self.per_second * self.window
            + self.ratio * sum(self._calls)
            - sum(self._retries)
        )

    def withdraw(self) -> bool:
        """A retry or hedge asks to be sent: True (and counted) if the budget
        allows it, False if it is spent."""
        with self._lock:
            index = self._advance()
            if self._balance() < 1.0:
                self.refused += 1
                return False
            self._retries[index] += 1
            return True

    def balance(self) -> float:
        """Retries and hedges that may be sent now."""
        with self._lock:
            self._advance()
            return self._balance()

    def stats(self) -> dict[str, Any]:
        """The balance, and the calls, retries and refusals it is made of."""
        with self._lock:
            self._advance()
            return {
                "balance": self._balance(),
                "calls": sum(self._calls),
                "retries": sum(self._retries),
                "refused": self.refused,
            }
