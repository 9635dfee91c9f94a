"""Outlier ejection on responses: when answers, not connections, say a host is
bad (Envoy's `consecutive_gateway_failure` and success-rate ejection). I/O free.

A proxy in front of a dead upstream answers 502 forever: connections succeed,
so a host is never marked down by them, and it keeps its share of traffic.
`Outliers` says when such answers mark a host down, as a connection failure
would; `Detector` applies it to the outcomes of every call of an instance.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ._health import HostState
from ._options import check_count, check_seconds

__all__ = ["GATEWAY_STATUSES", "Detector", "Outliers"]

#: Statuses a gateway answers when what is behind it fails.
GATEWAY_STATUSES = frozenset({502, 503, 504})
#: Successes between two looks at the clock (to end an interval).
CHECK = 16


@dataclass(frozen=True, slots=True)
class Outliers:
    """When responses mark a host down (the `outliers=` option).

    `consecutive`: this many gateway errors in a row (502, 503, 504 without
    `Retry-After`) mark the host down (None: never). `success_rate`: a host
    whose share of successful requests over `interval` seconds is below this
    fraction of the mean of the other hosts' is marked down (None: never);
    only hosts with at least `min_requests` requests in the interval are
    judged or compared. A failure is a 5xx status or a transport failure that
    is the host's fault; a status below 500 is a success.
    """

    consecutive: int | None = 5
    success_rate: float | None = 0.5
    interval: float = 10.0
    min_requests: int = 20

    def __post_init__(self) -> None:
        if self.consecutive is not None:
            check_count("consecutive", self.consecutive, 1)
        if self.success_rate is not None:
            rate = self.success_rate
            if isinstance(rate, bool) or not isinstance(rate, (int, float)):
                raise TypeError(f"success_rate must be a number, not {rate!r}")
            if not 0 < rate <= 1:
                raise ValueError(f"success_rate must be > 0 and <= 1, not {rate!r}")
        check_seconds("interval", self.interval)
        check_count("min_requests", self.min_requests, 1)


class Detector:
    """Applies `Outliers` to the outcomes of an instance's calls (thread-safe).

    Each report answers whether the host is to be marked down now. A host on
    probation (let back after being marked down by its answers) is marked down
    again by its first gateway error.
    """

    def __init__(
        self,
        policy: Outliers,
        members: Callable[[], Iterable[HostState]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.members = members
        self.clock = clock
        self._lock = threading.Lock()
        self._since = clock()
        self._rated = policy.success_rate is not None
        # Per host: gateway errors in a row, successes and failures this interval.
        self._run: dict[HostState, int] = {}
        self._ok: dict[HostState, int] = {}
        self._bad: dict[HostState, int] = {}
        self._doomed: set[HostState] = set()
        self._seen = 0

    def succeeded(self, state: HostState) -> bool:
        """`state`'s host answered a status below 500."""
        if self._run:
            self._run.pop(state, None)
        if not self._rated:
            return False
        # The common case, without the lock (a success lost to a race barely
        # moves a rate), and with the clock read every CHECK successes only.
        ok = self._ok
        ok[state] = ok.get(state, 0) + 1
        self._seen += 1
        if self._seen % CHECK and not self._doomed:
            return False
        with self._lock:
            return self._judge(state)

    def failed(self, state: HostState, status: int = 0) -> bool:
        """`state`'s host failed: a 5xx `status`, or 0 for a transport failure
        that is its fault. Gateway `status`es count towards `consecutive`."""
        limit = self.policy.consecutive
        with self._lock:
            if status in GATEWAY_STATUSES and limit is not None:
                run = self._run[state] = self._run.get(state, 0) + 1
                if run >= limit:
                    self._doomed.add(state)
            if self._rated:
                self._bad[state] = self._bad.get(state, 0) + 1
            return self._judge(state)

    def _judge(self, state: HostState) -> bool:
        # Called with the lock held: the interval's verdicts, then this host's.
        if self._rated and self.clock() - self._since >= self.policy.interval:
            self._rate()
        if state in self._doomed:
            self._doomed.discard(state)
            return True
        return False

    def _rate(self) -> None:
        """End an interval: doom the hosts whose success rate is far below the
        others'; start counting again."""
        policy = self.policy
        assert policy.success_rate is not None
        rates = {}
        for state in self.members():
            ok, bad = self._ok.get(state, 0), self._bad.get(state, 0)
            if ok + bad >= policy.min_requests:
                rates[state] = ok / (ok + bad)
        total = math.fsum(rates.values())
        for state, rate in rates.items():
            if len(rates) < 2:
                break
            others = (total - rate) / (len(rates) - 1)
            if rate < policy.success_rate * others:
                self._doomed.add(state)
        self._ok.clear()
        self._bad.clear()
        self._since = self.clock()
