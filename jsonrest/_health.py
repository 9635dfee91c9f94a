"""The members of a cluster and what is known of each: load, backoff, Retry-After.

`Health` owns the host set of a `Resources` (the only copy) and, per host, a
`HostState`: requests in flight, consecutive failures, until when the host is
down (backing off) or asked to be left alone (`Retry-After`), and the host's
resource. Readers get snapshots that never raise for a host discarded
meanwhile: a discarded host's state is marked `retired`, and lookups of it
answer None. It is guarded by a threading lock that is never held across an
await, so the async twin uses it as it is (the model of elastic-transport's
node pool).
"""

from __future__ import annotations

import heapq
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._latency import DECAY, estimate, observe, score

__all__ = ["Health", "HostState"]

log = logging.getLogger("jsonrest")

#: rank() of a host: usable now, asked to wait (Retry-After), backing off.
LIVE, AVOIDED, DOWN = 0, 1, 2


@dataclass(eq=False)
class HostState:
    """What jsonrest knows of one host. Times are `time.monotonic()` seconds."""

    host: str = ""
    resource: Any = field(default=None, repr=False)
    in_flight: int = 0
    failures: int = 0
    down_until: float = 0.0
    avoid_until: float = 0.0
    requests: int = 0
    errors: int = 0
    latency: float = 0.0  # total seconds of completed exchanges
    retired: bool = False  # discarded: no new request may start on it
    #: How many times the host was marked down: a request started before the
    #: latest mark found the host as it was then, so its failure is no news.
    epoch: int = 0
    #: The peak-EWMA latency estimate (seconds) as of `stamp` (see _latency).
    cost: float = 0.0
    stamp: float = 0.0
    #: Marked down by its answers: once let back, only requests that may be
    #: sent twice go to it, until it answers well again.
    probation: bool = False


class Health:
    """Membership, per-host load, backoff and `Retry-After`: thread-safe, I/O free.

    A failure marks a host down for `backoff` seconds, doubling with each
    consecutive failure up to `max_backoff`, shortened by a random jitter of at
    most half so that clients do not come back in step. Failures count per
    probe: only a request started after the host was last marked down can
    escalate its backoff, so a burst of requests failing together costs one
    step, not one each. A success marks the host up.

    At most `max_ejected` of the members (a share, at least one host) are down
    at once: a failure beyond that is counted but marks nothing. When fewer
    than `panic` of the members are live, hosts that are down count as live,
    so load spreads over all of them rather than piling on the survivors.
    Each host's latency is estimated (a peak-EWMA decaying over `decay`
    seconds) and weighs in its priority with its requests in flight.
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
        max_ejected: float = 1.0,
        panic: float = 0.0,
        decay: float = DECAY,
    ) -> None:
        if backoff <= 0 or max_backoff < backoff:
            raise ValueError("need 0 < backoff <= max_backoff")
        if max_retry_after < 0:
            raise ValueError("max_retry_after must be >= 0")
        self.max_ejected = max_ejected
        self.panic = panic
        self.decay = decay
        # Hosts marked down, some of whose backoffs may have ended since.
        self._down: set[HostState] = set()
        #: Hosts on probation right now (see HostState.probation).
        self.on_probation = 0
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.clock = clock
        self.rng = rng or random.Random()
        self.lock = threading.Lock()
        self.closed = False
        #: Told the host each time one is marked down (discovery refreshes
        #: early then); it must not block.
        self.on_down: Callable[[str], None] | None = None
        # Copied on write, so readers use either without the lock.
        self._states: dict[str, HostState] = {}
        self.hosts: tuple[str, ...] = ()
        self._retired: list[HostState] = []
        # When each down or avoided host may be used again, soonest first (with
        # stale entries left to expire): all_healthy() looks at the top only.
        self._waits: list[tuple[float, int, HostState]] = []
        self._seq = 0
        for host in hosts:
            self.add(host)

    # Membership -----------------------------------------------------------

    def add(self, host: str, resource: Any = None) -> HostState | None:
        """Make `host` a member; None if it is one already (nothing changes).

        Raises `RuntimeError` once closed.
        """
        with self.lock:
            if self.closed:
                raise RuntimeError("closed")
            if host in self._states:
                return None
            state = HostState(host, resource)
            self._states = {**self._states, host: state}
            self.hosts = (*self.hosts, host)
        return state

    def discard(self, host: str) -> HostState | None:
        """Stop `host` being a member; return its state (None if not a member).

        Requests in flight on it complete; `reapable` then hands it back.
        """
        with self.lock:
            state = self._states.get(host)
            if state is None:
                return None
            state.retired = True
            self._end_probation(state)
            self._states = {h: s for h, s in self._states.items() if h != host}
            self.hosts = tuple(h for h in self.hosts if h != host)
            self._retired.append(state)
        return state

    def update(
        self, added: Iterable[tuple[str, Any]], discarded: Iterable[str]
    ) -> None:
        """Add `(host, resource)` pairs and discard hosts at once: one copy of
        the membership for a whole discovery answer, not one per host.

        Hosts already members are left as they are; a discarded host's
        requests in flight complete, as with `discard`. `RuntimeError` once
        closed.
        """
        with self.lock:
            if self.closed:
                raise RuntimeError("closed")
            states = dict(self._states)
            for host, resource in added:
                if host not in states:
                    states[host] = HostState(host, resource)
            gone = [states.pop(host) for host in discarded if host in states]
            for state in gone:
                state.retired = True
            self._retired.extend(gone)
            kept = [host for host in self.hosts if host in states]
            known = set(kept)
            self._states = states
            self.hosts = (*kept, *(host for host in states if host not in known))

    @property
    def states(self) -> Mapping[str, HostState]:
        """Every member's state, as a snapshot (do not change it)."""
        return self._states

    def get(self, host: str) -> HostState | None:
        """The state of member `host`, or None."""
        return self._states.get(host)

    def state(self, host: str) -> HostState:
        """The state of member `host` (`KeyError` if it is not one)."""
        return self._states[host]

    def reapable(self) -> list[HostState]:
        """Take the discarded hosts with no request left in flight, to close."""
        if not self._retired:
            return []
        with self.lock:
            idle = [s for s in self._retired if not s.in_flight]
            self._retired = [s for s in self._retired if s.in_flight]
        return idle

    def close(self) -> list[HostState]:
        """Close the membership: later `add`s fail; return every state to close."""
        with self.lock:
            self.closed = True
            states = [*self._states.values(), *self._retired]
            self._retired = []
        return states

    # Load -----------------------------------------------------------------

    def started(self, state: HostState) -> int | None:
        """A request to `state`'s host begins; returns the epoch to report with,
        or None (and nothing begins) when the host was discarded meanwhile:
        its pool may already be closing."""
        with self.lock:
            if state.retired:
                return None
            state.in_flight += 1
            state.requests += 1
            return state.epoch

    def finished(self, state: HostState, elapsed: float) -> bool:
        """A request ended, however it ended; True when its host is retired and
        idle, so its pool may close now."""
        now = self.clock()
        with self.lock:
            state.in_flight -= 1
            state.latency += elapsed
            state.cost = observe(state.cost, state.stamp, now, elapsed, self.decay)
            state.stamp = now
            return state.retired and not state.in_flight

    # Health ---------------------------------------------------------------

    def _state(self, host: str | HostState) -> HostState | None:
        return self._states.get(host) if isinstance(host, str) else host

    def succeeded(self, host: str | HostState) -> bool:
        """The host answered: it is up, and its backoff starts over.

        True when that marked it up (it had failed before).
        """
        state = self._state(host)
        if state is None or not (state.failures or state.probation):
            return False  # the common case, without taking the lock
        with self.lock:
            failures, state.failures = state.failures, 0
            state.down_until = 0.0
            self._down.discard(state)
            self._end_probation(state)
        if failures:
            log.info("host %s is up", state.host)
        return bool(failures)

    def failed(self, host: str | HostState, epoch: int | None = None) -> float:
        """The host failed at connect, timed out or dropped: mark it down.

        `epoch` is what `started` returned for the failed request: when the
        host was marked down since, the failure is counted but the backoff is
        left as it is. Returns the new backoff in seconds (0 when unchanged).
        """
        state = self._state(host)
        if state is None:
            return 0.0
        with self.lock:
            state.errors += 1
            if epoch is not None and epoch != state.epoch:
                return 0.0
            capped = self._capped(state)
            if not capped:
                state.epoch += 1
                state.failures += 1
                exponent = min(state.failures - 1, 32)
                full = min(self.backoff * 2.0**exponent, self.max_backoff)
                delay = full * self.rng.uniform(0.5, 1.0)
                state.down_until = self.clock() + delay
                self._down.add(state)
                self._wait(state.down_until, state)
        if capped:  # DEBUG: a capped host may fail at every request
            log.debug(
                "host %s failed, not marked down: %d of %d hosts are down already "
                "(max_ejected=%g)",
                state.host,
                len(self._down),
                len(self.hosts),
                self.max_ejected,
            )
            return 0.0
        log.info(
            "host %s is down for %.1f s (failure %d)", state.host, delay, state.failures
        )
        if self.on_down is not None:
            self.on_down(state.host)
        return delay

    def eject(self, state: HostState, epoch: int | None = None) -> float:
        """The host's answers mark it down (outlier ejection): as `failed`,
        and once let back it is on probation until it answers well."""
        delay = self.failed(state, epoch)
        if delay and not state.probation:
            with self.lock:
                if not state.probation:
                    state.probation = True
                    self.on_probation += 1
        return delay

    def _end_probation(self, state: HostState) -> None:
        """`state` answered well or left: its probation ends (lock held)."""
        if state.probation:
            state.probation = False
            self.on_probation -= 1

    def _capped(self, state: HostState) -> bool:
        """Whether marking `state` down would pass `max_ejected` (lock held)."""
        if self.max_ejected >= 1.0 or state in self._down:
            return False
        self._prune()
        cap = max(1, math.floor(self.max_ejected * len(self.hosts) + 1e-9))
        return len(self._down) >= cap

    def _prune(self) -> None:
        """Forget the hosts whose backoff has ended (lock held)."""
        now = self.clock()
        ended = [s for s in self._down if s.down_until <= now or s.retired]
        self._down.difference_update(ended)

    def panicking(self) -> bool:
        """Whether fewer than `panic` of the members are live (not down)."""
        if not self.panic or not self._down:
            return False
        with self.lock:
            self._prune()
            members = len(self.hosts)
            return bool(members) and members - len(self._down) < self.panic * members

    def avoid(self, host: str | HostState, seconds: float) -> None:
        """The host asked for time (429/503 with `Retry-After`): steer away.

        The host is not marked down; the wait is capped at `max_retry_after`.
        """
        seconds = min(max(seconds, 0.0), self.max_retry_after)
        state = self._state(host)
        if state is None or not seconds:
            return
        with self.lock:
            until = self.clock() + seconds
            if until > state.avoid_until:
                state.avoid_until = until
                self._wait(until, state)

    def _wait(self, until: float, state: HostState) -> None:
        # Called with the lock held.
        self._seq += 1
        heapq.heappush(self._waits, (until, self._seq, state))

    # Queries --------------------------------------------------------------

    def all_healthy(self) -> bool:
        """True when no host can be down or avoided (a cheap, safe shortcut).

        Constant time but for dropping waits that have ended (each once).
        """
        if not self._waits:
            return True
        now = self.clock()
        with self.lock:
            waits = self._waits
            while waits and waits[0][0] <= now:
                heapq.heappop(waits)
            return not waits

    def rank(self, host: str) -> int | None:
        """0 when `host` is live, 1 when avoided, 2 when down; None if no member."""
        state = self._states.get(host)
        if state is None:
            return None
        now = self.clock()
        if state.down_until > now and not self.panicking():
            return DOWN
        if state.avoid_until > now:
            return AVOIDED
        return LIVE

    def live(self, host: str) -> bool:
        """Whether `host` is a member, neither down nor asked to be left alone."""
        return self.rank(host) == LIVE

    def down(self, host: str) -> bool:
        """Whether `host` is backing off after a failure."""
        return self.rank(host) == DOWN

    def until(self, host: str) -> float:
        """When `host` may be used again (0 when it may now, or is no member)."""
        state = self._states.get(host)
        if state is None:
            return 0.0
        until = max(state.down_until, state.avoid_until)
        return until if until > self.clock() else 0.0

    def priority(self, host: str) -> tuple[int, float] | None:
        """The default priority: lower is better, None for a host discarded.

        Live hosts come first, by their latency estimate times the square root
        of their requests in flight plus one (`_latency.score`); then hosts
        that asked to be left alone, then hosts that are down, each by when
        their wait ends.
        """
        state = self._states.get(host)
        if state is None:
            return None
        now = self.clock()
        if state.down_until > now and not self.panicking():
            return (DOWN, state.down_until)
        if state.avoid_until > now:
            return (AVOIDED, state.avoid_until)
        return (LIVE, score(state.cost, state.stamp, now, state.in_flight, self.decay))

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per host: requests, errors, in flight, state, until, mean latency."""
        now = self.clock()
        wall = time.time()
        result = {}
        with self.lock:
            for host, s in self._states.items():
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
                    "latency": estimate(s.cost, s.stamp, now, self.decay),
                    "probation": s.probation,
                }
        return result
