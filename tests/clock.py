"""A clock that moves only when a test says so, for the I/O-free core."""

from __future__ import annotations


class Clock:
    """Stands in for `time.monotonic`: `now` moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
