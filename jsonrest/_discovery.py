"""Discovery's decisions, I/O free: when to ask a source of hosts, whether its
answer will do, and what it changes.

A `Discovery` is told when a refresh begins and how it ended (an answer, or
a failure) and answers what the twins need: whether a refresh is due, how
long until the next one, and the `Change` to apply to the membership. It
never sends anything; the twins ask the source and apply the change (see
`_async/_refresh.py`). Its lock is never held across an await, so both twins
use it as it is.

The rules:

- A refresh is due at start, then `refresh` seconds after the last one
  ended, and early after a host was marked down (as elastic-transport's
  `sniff_on_node_failure`), though never within `min_refresh` seconds of the
  last one began (its `min_delay_between_sniffing`). A call that finds no
  member may bring one early too, under the same limit.
- One refresh runs at a time.
- An answer is an iterable of host strings (or `Member`s). A bare str, a
  mapping, anything not iterable, or any item that is not a valid host is
  garbage: the whole answer is refused. So is an empty answer, unless
  `allow_empty`. A refused answer, like an exception or a timeout, keeps the
  members as they are and logs one warning per run of failures.
- The members after an accepted answer are exactly the hosts it named,
  without repeats, in its order: the others are discarded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from ._hosts import parse_host
from ._options import check_seconds

__all__ = [
    "Change",
    "Discovery",
    "Member",
    "check_answer",
    "discovery_options",
]

log = logging.getLogger("jsonrest")

#: Hosts named in one log line before "and N more".
SHOWN = 8


class Member(NamedTuple):
    """One host as discovery found it.

    `host` is the host string the cluster uses. `name` is the DNS name it was
    discovered under when `host` is an address (`jsonrest.dns`): requests to
    it carry that name (TLS server name and `Host` header). `priority` and
    `weight` are an SRV record's (`jsonrest.srv`), None otherwise: the
    `priority` hook can read them with `Resources.member(host)`.
    """

    host: str
    name: str | None = None
    priority: int | None = None
    weight: int | None = None


class Change(NamedTuple):
    """What an accepted answer changes: members to add, hosts to discard."""

    added: tuple[Member, ...]
    removed: tuple[str, ...]


class Options(NamedTuple):
    """Discovery's options, checked (see `discovery_options`)."""

    refresh: float
    min_refresh: float
    timeout: float
    allow_empty: bool


def discovery_options(
    discover: object,
    *,
    refresh: Any,
    min_refresh: Any,
    discover_timeout: Any,
    allow_empty: Any,
) -> Options | None:
    """Check discovery's keywords; None without a source.

    The keywords that only make sense with a source (`refresh` ...) are
    refused without one (`None` stands for "not given").
    """
    given = {
        "refresh": refresh,
        "min_refresh": min_refresh,
        "discover_timeout": discover_timeout,
        "allow_empty": allow_empty,
    }
    if discover is None:
        named = [name for name, value in given.items() if value is not None]
        if named:
            raise TypeError(f"{', '.join(named)} need(s) discover=")
        return None
    every = 30.0 if refresh is None else check_seconds("refresh", refresh)
    least = (
        min(1.0, every)
        if min_refresh is None
        else check_seconds("min_refresh", min_refresh)
    )
    if least > every:
        raise ValueError(
            f"min_refresh must be <= refresh ({every:g}), not {min_refresh!r}"
        )
    timeout = (
        5.0
        if discover_timeout is None
        else check_seconds("discover_timeout", discover_timeout)
    )
    if allow_empty is not None and not isinstance(allow_empty, bool):
        raise TypeError(f"allow_empty must be a bool, not {type(allow_empty).__name__}")
    return Options(every, least, timeout, bool(allow_empty))


def check_answer(answer: object, known: Container[str] = ()) -> list[Member]:
    """The members an answer names, without repeats; `ValueError` saying why
    it is garbage (then none of it is used).

    Hosts in `known` (members already, so checked before) are not parsed
    again: a refresh of a large cluster checks only what is new.
    """
    if isinstance(answer, (str, bytes, bytearray)):
        raise ValueError(
            f"the answer is one {type(answer).__name__} ({_short(answer)}), "
            "not an iterable of hosts"
        )
    if isinstance(answer, Mapping):
        raise ValueError("the answer is a mapping, not an iterable of hosts")
    if answer is None or not isinstance(answer, Iterable):
        raise ValueError(
            f"the answer is {_short(answer)} ({type(answer).__name__}), "
            "not an iterable of hosts"
        )
    members: dict[str, Member] = {}
    for index, item in enumerate(answer):
        if isinstance(item, Member):
            member = item
        elif isinstance(item, str):
            member = Member(item)
        else:
            raise ValueError(
                f"item {index} is {_short(item)} ({type(item).__name__}), "
                "not a host string"
            )
        if not isinstance(member.host, str):
            raise ValueError(f"item {index} has a host that is not a str")
        if member.host not in known:
            try:
                parse_host(member.host)
            except ValueError as exc:
                raise ValueError(f"item {index}: {exc}") from None
        members.setdefault(member.host, member)
    return list(members.values())


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _hosts(hosts: Sequence[str]) -> str:
    shown = ", ".join(hosts[:SHOWN])
    more = len(hosts) - SHOWN
    return shown if more <= 0 else f"{shown} and {more} more"


class Discovery:
    """When to refresh, and what an answer changes (thread-safe, I/O free).

    `source` names the source in messages. Times come from `clock`
    (monotonic seconds); `wall` gives epoch seconds for `stats`.
    """

    def __init__(
        self,
        source: str,
        options: Options,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.refresh = options.refresh
        self.min_refresh = options.min_refresh
        self.timeout = options.timeout
        self.allow_empty = options.allow_empty
        self.clock = clock
        self.wall = wall
        self.lock = threading.Lock()
        #: A refresh is under way.
        self.running = False
        #: The members of the last accepted answer, by host (copied on write).
        self.members: Mapping[str, Member] = {}
        self._began: float | None = None  # when the last refresh began
        self._next = -float("inf")  # when the next periodic refresh is due
        self._early = False  # a host went down since the last refresh began
        # Counts and the latest of each, for stats().
        self.refreshes = 0
        self.failures = 0
        self.failing = 0  # failures in a row, up to now
        self.error: str | None = None  # the last failure's reason
        self.added = 0
        self.removed = 0
        self._ended_at: float | None = None
        self._changed: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())

    # When -----------------------------------------------------------------

    def due(self) -> bool:
        """Whether a refresh should begin now (none is under way)."""
        if self.running:
            return False
        now = self.clock()
        if now >= self._next:
            return True
        return self._early and self._allowed(now)

    def needed(self, empty: bool) -> bool:
        """Whether a call should refresh before it goes on: when one is due,
        or when the cluster is `empty` and the rate limit allows one."""
        if self.due():
            return True
        return empty and not self.running and self._allowed(self.clock())

    def _allowed(self, now: float) -> bool:
        began = self._began
        return began is None or now >= began + self.min_refresh

    def delay(self) -> float:
        """Seconds until a refresh is due (0 when it is now)."""
        now = self.clock()
        wait = self._next - now
        if self._early and self._began is not None:
            wait = min(wait, self._began + self.min_refresh - now)
        return max(wait, 0.0)

    def host_down(self) -> bool:
        """A host was marked down: refresh early. True when one is due now."""
        self._early = True
        return self.due()

    # A refresh ------------------------------------------------------------

    def begin(self) -> bool:
        """A refresh begins; False (and nothing changes) if one is under way."""
        with self.lock:
            if self.running:
                return False
            self.running = True
            self._began = self.clock()
            self._early = False
            self.refreshes += 1
            return True

    def end(self) -> None:
        """The refresh ended, however it did (call it in a `finally`)."""
        with self.lock:
            self.running = False
            now = self.clock()
            self._next = now + self.refresh
            self._ended_at = now

    def answered(self, answer: object, members: Sequence[str]) -> Change | None:
        """The source answered `answer` while the cluster had `members`.

        Returns the change to apply, or None when the answer is refused (it
        is then counted and logged as a failure).
        """
        current = set(members)
        try:
            found = check_answer(answer, current)
        except ValueError as exc:
            self.failed(f"garbage: {exc}", len(members))
            return None
        except Exception as exc:  # iterating the answer raised
            self.failed(exc, len(members))
            return None
        if not found and not self.allow_empty:
            self.failed(
                "the answer was empty (allow_empty=True to accept it)", len(members)
            )
            return None
        new = {member.host: member for member in found}
        added = tuple(member for member in found if member.host not in current)
        removed = tuple(host for host in members if host not in new)
        with self.lock:
            self.members = new
            self.added += len(added)
            self.removed += len(removed)
            if added or removed:
                self._changed = (tuple(m.host for m in added), removed)
            failing, self.failing = self.failing, 0
        if failing:
            log.info(
                "discovery from %s answered again after %d failure(s)",
                self.source,
                failing,
            )
        if added:
            log.info(
                "discovery from %s: %d host(s) added: %s",
                self.source,
                len(added),
                _hosts([member.host for member in added]),
            )
        if removed:
            log.info(
                "discovery from %s: %d host(s) removed: %s",
                self.source,
                len(removed),
                _hosts(removed),
            )
        return Change(added, removed)

    def failed(self, error: BaseException | str, members: int | None = None) -> None:
        """The refresh failed (`error`: the exception, or why): members stay.

        The first failure of a run logs a warning; the rest log at DEBUG
        until an answer is accepted again (then INFO says so).
        """
        if isinstance(error, BaseException):
            reason = f"{type(error).__name__}: {error}" if str(error) else repr(error)
        else:
            reason = error
        with self.lock:
            self.failures += 1
            self.failing += 1
            self.error = reason
            first = self.failing == 1
        kept = "" if members is None else f", keeping its {members} member(s)"
        log.log(
            logging.WARNING if first else logging.DEBUG,
            "discovery from %s failed%s: %s",
            self.source,
            kept,
            reason,
        )

    # What it has done -----------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Refreshes, failures, the last error, hosts added and removed, and
        when the last refresh ended and the next is due (epoch seconds)."""
        now, wall = self.clock(), self.wall()
        with self.lock:
            ended = self._ended_at
            next_at = self._next if self._next > -float("inf") else now
            added, removed = self._changed
            return {
                "source": self.source,
                "refreshes": self.refreshes,
                "failures": self.failures,
                "failing": self.failing,
                "error": self.error,
                "added": self.added,
                "removed": self.removed,
                "last_added": list(added),
                "last_removed": list(removed),
                "last_refresh": None if ended is None else wall + (ended - now),
                "next_refresh": wall + max(next_at - now, 0.0),
                "running": self.running,
            }
