"""Load and health of every host, shared by both twins, every thread and task.

One `Health` holds, per host, the requests in flight, the consecutive failures
and until when the host is down (backing off) or asked us to stay away
(`Retry-After`). It is guarded by a threading lock that is never held across
an await, so the async twin uses it as it is (the model of elastic-transport's
node pool).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["Health", "HostState", "parse_retry_after"]

log = logging.getLogger("jsonrest")


@dataclass
class HostState:
    """What jsonrest knows of one host. Times are `time.monotonic()` seconds."""

    in_flight: int = 0
    failures: int = 0
    down_until: float = 0.0
    avoid_until: float = 0.0
    requests: int = 0
    errors: int = 0
    latency: float = 0.0  # total seconds of completed requests
    retired: bool = False  # the host was discarded while requests were in flight


class Health:
    """Per-host load, backoff and `Retry-After`, thread-safe and I/O free.

    A failure marks a host down for `backoff` seconds, doubling with each
    consecutive failure up to `max_backoff`, shortened by a random jitter of at
    most half so that clients do not come back in step. A success marks it up.
    """

    def __init__(
        self,
        hosts: Iterable[str] = (),
        *,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        max_retry_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if backoff <= 0 or max_backoff < backoff:
            raise ValueError("need 0 < backoff <= max_backoff")
        if max_retry_after < 0:
            raise ValueError("max_retry_after must be >= 0")
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.clock = clock
        self.rng = rng or random.Random()
        self.lock = threading.Lock()
        self.states: dict[str, HostState] = {host: HostState() for host in hosts}
        # How many hosts are down or avoided right now, at most: lets the
        # selection skip its liveness checks while the whole cluster is healthy.
        self._unhealthy = 0

    def add(self, host: str) -> None:
        """Start tracking `host` (no-op if it is tracked)."""
        with self.lock:
            self.states.setdefault(host, HostState())

    def discard(self, host: str) -> HostState | None:
        """Stop tracking `host`; return its last state (None if unknown)."""
        with self.lock:
            state = self.states.pop(host, None)
            if state is not None:
                state.retired = True
        return state

    def state(self, host: str) -> HostState:
        """The state of `host` (`KeyError` if unknown)."""
        return self.states[host]

    # Load -----------------------------------------------------------------

    def started(self, host: str) -> HostState:
        """A request to `host` is in flight; `KeyError` if `host` is unknown.

        Returns the host's state, to hand back to `finished` even if the host
        is discarded meanwhile.
        """
        with self.lock:
            state = self.states[host]
            state.in_flight += 1
            state.requests += 1
        return state

    def finished(self, state: HostState, elapsed: float) -> None:
        """A request ended, however it ended."""
        with self.lock:
            state.in_flight -= 1
            state.latency += elapsed

    # Health ---------------------------------------------------------------

    def succeeded(self, host: str) -> None:
        """`host` answered: it is up, and its backoff starts over."""
        state = self.states.get(host)
        if state is None or not state.failures:
            return  # the common case, without taking the lock
        with self.lock:
            failures, state.failures = state.failures, 0
            state.down_until = 0.0
        if failures:
            log.info("host %s is up", host)

    def failed(self, host: str) -> float:
        """`host` failed at connect, timed out or dropped: mark it down.

        Returns the backoff in seconds.
        """
        with self.lock:
            state = self.states.get(host)
            if state is None:
                return 0.0
            state.errors += 1
            state.failures += 1
            exponent = min(state.failures - 1, 32)
            full = min(self.backoff * 2.0**exponent, self.max_backoff)
            delay = full * self.rng.uniform(0.5, 1.0)
            state.down_until = self.clock() + delay
            self._unhealthy += 1
        log.info("host %s is down for %.1f s (failure %d)", host, delay, state.failures)
        return delay

    def avoid(self, host: str, seconds: float) -> None:
        """`host` asked for time (429/503 with `Retry-After`): steer unicasts away.

        The host is not marked down; the wait is capped at `max_retry_after`.
        """
        seconds = min(max(seconds, 0.0), self.max_retry_after)
        with self.lock:
            state = self.states.get(host)
            if state is not None and seconds:
                state.avoid_until = max(state.avoid_until, self.clock() + seconds)
                self._unhealthy += 1

    # Queries --------------------------------------------------------------

    def all_healthy(self) -> bool:
        """True when no host can be down or avoided (a cheap, safe shortcut)."""
        if not self._unhealthy:
            return True
        now = self.clock()
        for state in self.states.values():
            if state.down_until > now or state.avoid_until > now:
                return False
        # Every backoff has ended: forget them until the next failure.
        with self.lock:
            self._unhealthy = 0
        return True

    def live(self, host: str) -> bool:
        """Whether `host` is neither down nor asked to be left alone."""
        state = self.states[host]
        now = self.clock()
        return state.down_until <= now and state.avoid_until <= now

    def down(self, host: str) -> bool:
        """Whether `host` is backing off after a failure."""
        return self.states[host].down_until > self.clock()

    def until(self, host: str) -> float:
        """When `host` may be used again (0 when it may now)."""
        state = self.states[host]
        until = max(state.down_until, state.avoid_until)
        return until if until > self.clock() else 0.0

    def priority(self, host: str) -> tuple[int, float]:
        """The default priority: lower is better.

        Live hosts come first, fewest requests in flight first; then hosts that
        asked to be left alone, then hosts that are down, each by when their
        wait ends.
        """
        state = self.states[host]
        now = self.clock()
        if state.down_until > now:
            return (2, state.down_until)
        if state.avoid_until > now:
            return (1, state.avoid_until)
        return (0, state.in_flight)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per host: requests, errors, in flight, state, until, mean latency."""
        now = self.clock()
        wall = time.time()
        result = {}
        with self.lock:
            for host, s in self.states.items():
                completed = s.requests - s.in_flight
                if s.down_until > now:
                    status, until = "down", s.down_until
                elif s.avoid_until > now:
                    status, until = "avoided", s.avoid_until
                else:
                    status, until = "up", 0.0
                result[host] = {
                    "requests": s.requests,
                    "failures": s.errors,
                    "in_flight": s.in_flight,
                    "state": status,
                    "until": wall + (until - now) if until else None,
                    "mean_latency": s.latency / completed if completed else None,
                }
        return result


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
