"""`Hedge`: when a unicast sends the same request to a second host. I/O free.

"The Tail at Scale" (Dean and Barroso, 2013): a request outstanding for
longer than most take is sent again elsewhere and the first answer wins, which
cuts the tail for a few percent more requests. A `Hedge` gives the delay,
fixed or a percentile of the instance's recent latencies, and how many hedges
a call may send.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._latency import Recent
from ._options import check_count, check_seconds

__all__ = ["ADAPTIVE", "Hedge", "hedge_option"]

#: The `hedge=` value for an adaptive delay.
ADAPTIVE = "adaptive"


@dataclass(frozen=True, slots=True)
class Hedge:
    """How a unicast hedges (the `hedge=` option, also given as seconds or
    `"adaptive"`).

    After `delay` seconds without an answer, the request is sent again to a
    live host not yet tried; the first complete answer wins and the others are
    cancelled. With `delay=None` the delay adapts: the `percentile` of the
    latencies of the instance's latest attempts (at least `min_delay`), and no
    hedge until `warmup` of them are known. The default, the 97th percentile,
    hedges about 3% of the calls (Dean and Barroso hedge at the 95th, for
    about 5%). At most `max_hedges` per call,
    each one of the call's `retries` and drawn from its retry budget. Only
    requests that may be sent twice are hedged (GET, HEAD, OPTIONS, PUT,
    DELETE, or `idempotent=True`).
    """

    delay: float | None = None
    percentile: float = 0.97
    max_hedges: int = 1
    min_delay: float = 0.001
    warmup: int = 20

    def __post_init__(self) -> None:
        if self.delay is not None:
            check_seconds("hedge delay", self.delay, zero=True)
        share = self.percentile
        if isinstance(share, bool) or not isinstance(share, (int, float)):
            raise TypeError(f"percentile must be a number, not {share!r}")
        if not 0 < share < 1:
            raise ValueError(f"percentile must be between 0 and 1, not {share!r}")
        check_count("max_hedges", self.max_hedges, 1)
        check_seconds("min_delay", self.min_delay, zero=True)
        check_count("warmup", self.warmup, 1)

    def wait(self, recent: Recent | None) -> float | None:
        """The delay of a call's hedges now; None for no hedge (yet)."""
        if self.delay is not None:
            return self.delay
        if recent is None:
            return None
        value = recent.percentile(self.percentile, self.warmup)
        return None if value is None else max(value, self.min_delay)


def hedge_option(value: object) -> Hedge | None:
    """The `hedge=` option checked: seconds, `"adaptive"`, a `Hedge` or None."""
    if value is None or isinstance(value, Hedge):
        return value
    if value == ADAPTIVE:
        return Hedge()
    if isinstance(value, str):
        raise ValueError(
            f"hedge must be seconds, {ADAPTIVE!r}, a jsonrest.Hedge or None, "
            f"not {value!r}"
        )
    return Hedge(delay=check_seconds("hedge", value, zero=True))
