"""How fast each host is lately, and how slow the slowest calls are: I/O free.

`observe` and `estimate` keep a per-host peak-EWMA of latency, the estimate
Finagle and Linkerd balance by: a slower answer than the estimate raises it at
once (the peak), a faster one pulls it down gradually, and an idle host's
estimate decays towards zero, so that it is tried again. `Recent` keeps the
latencies of an instance's latest attempts for an adaptive hedge delay (a high
percentile of them).
"""

from __future__ import annotations

import math
import threading
from collections import deque

__all__ = [
    "ALPHA",
    "DECAY",
    "PENALTY",
    "STEP",
    "Recent",
    "estimate",
    "observe",
    "score",
]

#: Seconds over which a host's latency estimate decays (Finagle's default).
DECAY = 10.0
#: The least share of the way each answer faster than the estimate pulls it
#: down: a busy host's one slow answer is forgotten within some tens of
#: answers, while an idle host's estimate only decays with time.
ALPHA = 0.1
#: The score of a host with requests in flight and no latency known yet: worse
#: than any host whose latency is known (Finagle's rule), better with fewer.
PENALTY = 1e6
#: Scores are compared in steps of this ratio: hosts within about 25% of each
#: other are equals, chosen at random, so that sequential traffic still
#: spreads over hosts alike rather than sticking to the one a hair faster.
STEP = 1.25
_LOG_STEP = math.log(STEP)


def estimate(cost: float, stamp: float, now: float, decay: float = DECAY) -> float:
    """The estimate `cost` (observed at `stamp`) decayed to `now`, in seconds."""
    if not cost:
        return 0.0
    return cost * math.exp((stamp - now) / decay)


def observe(
    cost: float, stamp: float, now: float, rtt: float, decay: float = DECAY
) -> float:
    """The new estimate after a request took `rtt` seconds.

    A peak (slower than the estimate) replaces it; anything else moves it
    towards `rtt` by how long ago the estimate was last fed, and at least
    `ALPHA` of the way.
    """
    if rtt >= cost:
        return rtt
    weight = min(math.exp((stamp - now) / decay), 1.0 - ALPHA)
    return cost * weight + rtt * (1.0 - weight)


def score(
    cost: float, stamp: float, now: float, in_flight: int, decay: float = DECAY
) -> float:
    """A live host's load score, lower is better: its latency estimate, in
    steps of `STEP`, times the square root of its requests in flight plus one
    (0 for an idle host not measured yet, to be tried first).

    Finagle multiplies by the requests in flight themselves, as if a host
    answered them one at a time; a host serves them at once, and its latency
    estimate already grows with the load it feels. The square root keeps the
    order of requests in flight among hosts alike, while a host ten times
    slower stays behind until the others carry about a hundred each.
    """
    if not cost:
        return PENALTY + in_flight if in_flight else 0.0
    # The log of estimate() in µs, in one logarithm: this runs for every
    # candidate of every call.
    wait = _log(cost) + (stamp - now) / decay + _LOG_US
    step = int(wait / _LOG_STEP) if wait > _LOG_STEP else 1
    level = _LEVELS[step] if step < _MAX_LEVEL else _exp(step * _LOG_STEP)
    root = _ROOTS[in_flight] if in_flight < _MAX_LEVEL else _sqrt(in_flight + 1)
    return level * root


_exp, _log, _sqrt = math.exp, math.log, math.sqrt
_LOG_US = math.log(1e6)
# Each step's level and each load's square root, computed once: a minute of
# latency is about 80 steps.
_MAX_LEVEL = 128
_LEVELS = [_exp(step * _LOG_STEP) for step in range(_MAX_LEVEL)]
_ROOTS = [_sqrt(count + 1) for count in range(_MAX_LEVEL)]


class Recent:
    """The latencies of the latest `size` attempts, and a percentile of them.

    Thread-safe. The percentile is recomputed every `every` new samples, so
    asking for it costs nothing on most calls.
    """

    def __init__(self, size: int = 512, every: int = 32) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self._every = every
        self._total = 0  # samples ever added (a lost increment costs nothing)
        self._cache: dict[float, tuple[float, int]] = {}  # share: (value, at)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._samples)

    def add(self, seconds: float) -> None:
        """Record one attempt's latency."""
        self._samples.append(seconds)  # atomic: no lock needed
        self._total += 1

    def percentile(self, share: float, least: int = 20) -> float | None:
        """The `share` quantile (0.95: the 95th percentile) of the recent
        latencies; None until `least` have been recorded."""
        if len(self._samples) < least:
            return None
        cached = self._cache.get(share)
        if cached is not None and self._total - cached[1] < self._every:
            return cached[0]
        with self._lock:
            ordered = sorted(self._samples)
            value = ordered[min(len(ordered) - 1, int(share * len(ordered)))]
            self._cache[share] = (value, self._total)
            return value
