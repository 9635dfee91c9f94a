"""The plan of one multicast: which hosts each round goes to, which keys each
answer stands for, and when to stop.

A multicast sends one request to a minimal cover of its keys. When a host of
the cover fails, the keys it held and no answering host holds are orphaned;
they are covered again, on hosts not yet tried, for at most `retries` more
rounds and within the call's deadline, if the failure allows the request to
be sent elsewhere (`may_resend`). `Multicast` makes every such decision and
sends nothing, so both twins share it and it is tested without sockets: a
twin only loops `next_hosts` -> broadcast -> `report`, then asks `result`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

from ._deadline import Deadline
from ._exceptions import BroadcastError, Error, NoHostAvailable
from ._faults import may_resend
from ._placement import Placement
from ._response import Response
from ._telemetry import NO_CALL, CallRecord, error_type

__all__ = ["Multicast"]

#: The least deadline a round is given, in seconds.
_MINIMUM = 0.001


class Multicast:
    """The rounds of one multicast of `keys` over `placement`.

    `weight` and `live` judge hosts as in `Placement.choices` (None removes
    a host; a host that is not live serves only keys no live host holds);
    `rng` settles ties between equal covers. At most `1 + retries` rounds are
    planned, all within `deadline`. `idempotent` says whether the request may
    be sent again after it may have reached a host. Raises `KeyError` for an
    unknown key at once.
    """

    def __init__(
        self,
        placement: Placement,
        keys: Iterable[Hashable],
        *,
        weight: Callable[[str], Any],
        live: Callable[[str], bool],
        rng: random.Random | None = None,
        retries: int = 0,
        idempotent: bool = False,
        deadline: Deadline | None = None,
        record: CallRecord = NO_CALL,
    ) -> None:
        self.placement = placement
        self.keys = list(dict.fromkeys(keys))
        for key in self.keys:
            placement[key]  # an unknown key fails here, before any traffic
        self.weight = weight
        self.live = live
        self.rng = rng
        self.retries = retries
        self.idempotent = idempotent
        self.deadline = deadline
        #: The call's telemetry, told of each re-cover (see `_telemetry`).
        self.record = record
        self.rounds = 0
        #: Every host sent to so far, in order; never sent to twice.
        self.tried: list[str] = []
        #: The error of each host that failed, in the order reported.
        self.errors: list[Error] = []
        #: The response of each host that answered, round by round.
        self.responses: dict[str, Response] = {}
        #: Why no further round will be planned, once that is decided.
        self.stopped: str | None = None
        self._answered_by: dict[Hashable, str] = {}
        self._unsafe: list[str] = []  # failed hosts whose keys may not go elsewhere
        self._round: list[str] = []
        self._failed: list[Error] = []  # the errors of the round reported last
        self._order = {host: i for i, host in enumerate(placement.hosts)}

    def orphaned(self) -> list[Hashable]:
        """The requested keys that no response stands for yet, in request order."""
        answered = self._answered_by
        return [key for key in self.keys if key not in answered]

    def remaining(self) -> float | None:
        """Seconds left for the whole multicast (None without a deadline).

        At least a millisecond: a round planned just before the deadline then
        times out at once rather than pass a deadline of 0, which is refused.
        """
        if self.deadline is None:
            return None
        return max(self.deadline.remaining(), _MINIMUM)

    def next_hosts(self) -> list[str]:
        """The hosts of the next round, in placement order; empty when done.

        The first round is a minimal cover of every key, and raises
        `NoHostAvailable` if there is none: nothing was sent yet. A later round
        is a minimal cover of the orphaned keys by hosts not yet tried; it is
        empty, and `stopped` says why, once the retries or the deadline are
        spent or some orphaned key has no untried host left.
        """
        orphaned = self.orphaned()
        if not orphaned or self.stopped is not None:
            return []
        if self.rounds:
            self.stopped = self._why_stop()
            if self.stopped is not None:
                return []
        try:
            cover = self.placement.cover(
                orphaned, self.weight, self.live, exclude=self.tried, rng=self.rng
            )
        except NoHostAvailable as error:
            if not self.rounds:
                raise
            self.stopped = f"no untried host is left: {error}"
            return []
        self.rounds += 1
        self._round = sorted(cover, key=self._order.__getitem__)
        self.tried += self._round
        for failure in self._failed:  # a failed host whose keys this round covers
            host = getattr(failure, "host", None)
            if host and any(host in self.placement[key] for key in orphaned):
                self.record.failover(host, self._round, error_type(failure))
        return list(self._round)

    def _why_stop(self) -> str | None:
        """Why the orphaned keys of a finished round are not covered again."""
        if self.deadline is not None and self.deadline.expired():
            self.record.expired()
            return self.deadline.message("multicast")
        if self._unsafe:
            hosts = ", ".join(self._unsafe)
            return f"the request may have reached {hosts}: not sent again"
        if self.rounds > self.retries:
            return f"all {self.retries} retries used"
        return None

    def report(
        self, responses: Mapping[str, Response], errors: Sequence[BaseException]
    ) -> None:
        """Record the outcome of the round `next_hosts` planned last.

        `responses` maps each host that answered, whatever its status, to its
        response; `errors` holds the failure of each other host (with `.host`),
        as `BroadcastError` carries them. Each key goes to the first answering
        host of the round that holds it: that response's `keys`. If a key left
        without an answer is held by a host whose failure forbids sending the
        request again, no round follows: the key may have been handled there.
        """
        placement = self.placement
        answering = [host for host in self._round if host in responses]
        rank = {host: i for i, host in enumerate(answering)}
        keys: list[list[Hashable]] = [[] for _ in answering]
        for key in self.orphaned():
            holders = [rank[host] for host in placement[key] if host in rank]
            if holders:
                keys[min(holders)].append(key)
        for host, covered in zip(answering, keys, strict=True):
            response = responses[host]
            response.keys = frozenset(covered)
            self.responses[host] = response
            self._answered_by.update(dict.fromkeys(covered, host))
        self._failed = []
        for error in errors:
            if not isinstance(error, Error):
                raise error  # not a host's failure: nothing to plan around
            self.errors.append(error)
            self._failed.append(error)
        # A host whose failure forbids resending may have handled the request:
        # its keys must not go elsewhere. So must those of a host with no
        # outcome at all (a broadcast gives every host one, but of a host
        # nothing is known about, nothing may be assumed).
        failed = {getattr(error, "host", None): error for error in errors}
        unsafe = [
            host
            for host in self._round
            if host not in responses
            and (host not in failed or not may_resend(failed[host], self.idempotent))
        ]
        self._round = []
        if any(placement[key].intersection(unsafe) for key in self.orphaned()):
            self._unsafe += unsafe

    def result(self) -> list[Response]:
        """Every response, round by round; or `BroadcastError` if keys are left.

        The error holds every failure of the call and, in `.responses`, every
        response that arrived, each with its `keys`.
        """
        orphaned = self.orphaned()
        if not orphaned:
            return list(self.responses.values())
        hosts = ", ".join(getattr(e, "host", "?") for e in self.errors)
        message = (
            f"multicast: no response for keys {orphaned!r} after "
            f"{self.rounds} round(s), {len(self.errors)} host(s) failed: {hosts}"
        )
        if self.stopped:
            message += f" ({self.stopped})"
        if not self.errors:  # a broadcast left a host without any outcome
            raise NoHostAvailable(message)
        raise BroadcastError(message, self.errors, self.responses)
