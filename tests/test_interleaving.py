"""Membership changes, host faults, cancellations and calls, interleaved at random.

A hypothesis `RuleBasedStateMachine` drives one `Resources` (calls on threads)
or one `AsyncResources` (calls as tasks, on asyncio and on trio, through a
blocking portal made per test case) against ten switchable servers on
127.0.0.1 (tests/switchboard.py). Its rules add and discard hosts, switch a
server to refuse connections, drop requests, answer 503 (with or without
`Retry-After`) or stall, heal it, make unicasts and broadcasts (GET and POST),
hedged unicasts and quorum broadcasts,
cut calls short (a cancel scope on tasks, a very short deadline on threads),
check `choice`, and run several calls at once while another thread or task
(on tasks: the event loop or a worker thread) adds, discards, flaps hosts
(discarded and re-added 20 times in a row) and switches servers. Every
request carries a unique `X-Request-Id`; the servers record when it reached
the kernel and when each answer was written.

After every step:

- no call outlives its deadline (or its cancel scope) by more than the
  library's `SLACK` plus `SCHEDULING`;
- nothing reaches a server after the call's deadline (or cancellation) plus
  `SEND_ALLOWANCE`, nor a host that was never a member during the call;
- no response is lost: every answer a server wrote for a broadcast in good
  time is in its result (or in `BroadcastError.responses`); a unicast
  returns the final answer a server wrote for it in good time; every
  response returned is the one written for that very request;
- no POST unicast reaches servers twice, no request reaches one host twice,
  a unicast tries at most 1 + retries hosts, hedges included;
- a hedged unicast returns one of the final answers written for it in good
  time; a quorum broadcast returns QUORUM 2xx answers of distinct hosts, and
  raises only when fewer than QUORUM were written in good time;
- only the documented errors are raised (no RuntimeError, no stray group);
- nothing is in flight, on members and on discarded hosts alike (on threads,
  once the attempts a hedge or a quorum left to finish have ended, which
  their timeout bounds);
- `choice` never prefers a host that is down (or avoided) to one that is up,
  unless fewer than half the hosts are live (the panic rule).

At teardown, once the cluster is closed, no connection to any server is left
open, and every request that ever arrived is checked against its call again.

Time allowances grow by the time the whole process was paused (`Heartbeat`),
so that a saturated machine does not fail the test. Failures print a timeline
of the call; `JSONREST_INTERLEAVING_EXAMPLES=300` hunts with fresh seeds.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

import jsonrest
from jsonrest import AsyncResources, Resources
from tests.switchboard import FAULTS, Switchboard

try:
    from jsonrest._deadline import SLACK
except ImportError:  # pragma: no cover - older layouts
    SLACK = 0.25

POOL = 10  # servers; more than 8 members makes `choice` sample two
RETRIES = 2
TIMEOUT = 0.4  # each attempt's httpx timeout: a stalled host fails over in time
DEADLINES = (0.3, 0.7)
OPTIONS: dict[str, Any] = {
    "retries": RETRIES,
    "timeout": TIMEOUT,
    "backoff": 0.3,  # short, so hosts go down and come back within a case
    "max_backoff": 1.0,
    "max_retry_after": 0.5,  # busy_ra's Retry-After of 1 s, capped
}
#: How far past its limit a call may end, on top of SLACK (the library's own
#: allowance to notice its deadline): up to 6 calls, a membership thread or
#: task and ten servers' threads share one GIL (switch interval 5 ms) on a
#: small machine, so a ready thread may wait tens of switch intervals. 0.5 s
#: is several times the overruns seen here, and far below what a call stuck
#: on a stalled host would take (the stall lasts until the client lets go).
SCHEDULING = 0.5
#: A request may reach a server this long after its call's deadline: the
#: client checked the deadline just before it, then connected and wrote.
#: Arrivals are the kernel's receive timestamps, so the servers' own threads
#: add nothing; what remains is the client being descheduled between its
#: check and its write. The library allows itself the same to notice a
#: deadline.
SEND_ALLOWANCE = SLACK
#: An answer written this long before the caller could give up must reach it:
#: writing on 127.0.0.1 is immediate, reading it needs the client scheduled.
LATE_MARGIN = 0.2
#: Every allowance above also grows by the time this process could not run at
#: all while the call was under way (see `Heartbeat`): when the machine is
#: saturated (other test suites on the same cores) a thread may be off the CPU
#: for a second, which no library can be blamed for. Only pauses longer than
#: PAUSE count; a library hogging the CPU that long would show here too, but a
#: call waiting where it should not (a lock, a socket) would not: the
#: heartbeat keeps running then.
PAUSE = 0.02
RUN_LIMIT = 15.0  # a run of calls that takes longer than this has hung
RETRY_STATUSES = frozenset({502, 503, 504})
HEDGE = 0.002  # seconds before a hedged unicast tries a second host: often
QUORUM = 2
#: The method each kind of call uses, and what it adds to the call.
SENDS = {
    "unicast": "unicast",
    "broadcast": "broadcast",
    "hedged": "unicast",
    "quorum": "broadcast",
}
EXTRA: dict[str, dict[str, Any]] = {
    "hedged": {"hedge": HEDGE},
    "quorum": {"quorum": QUORUM},
}
UNICASTS = ("unicast", "hedged")

#: JSONREST_INTERLEAVING_EXAMPLES=500 hunts longer, with fresh random seeds.
HUNT = int(os.environ.get("JSONREST_INTERLEAVING_EXAMPLES", "0"))
SETTINGS = settings(
    max_examples=HUNT or 25,
    stateful_step_count=15,
    deadline=None,
    derandomize=not HUNT,
    database=None,
    suppress_health_check=list(HealthCheck),
)


class Heartbeat:
    """A thread that ticks every 5 ms and keeps the pauses between its ticks.

    `lost(start, end)` is how long, within that window, the process let
    none of its threads run for longer than PAUSE at a time.
    """

    TICK = 0.005

    def __init__(self) -> None:
        self.pauses: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.TICK):
            now = time.monotonic()
            if now - last > self.TICK + PAUSE:
                self.pauses.append((last + self.TICK, now))
            last = now

    def lost(self, start: float, end: float) -> float:
        return sum(
            max(0.0, min(stop, end) - max(begin, start))
            for begin, stop in list(self.pauses)
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)


class _NoHeartbeat(Heartbeat):
    def lost(self, start: float, end: float) -> float:
        return 0.0


#: The heartbeat of the test running now (set by the test functions below).
heartbeat: Heartbeat = _NoHeartbeat()


@dataclass(frozen=True)
class Spec:
    """One call to make: what, how long it may take, when to cut it short."""

    kind: str  # a key of SENDS
    method: str
    deadline: float
    cut: float | None = None  # cut short after about this many seconds
    delay: float = 0.0  # seconds to wait before starting, in a concurrent run
    cancel: float | None = None  # async: a cancel scope of this many seconds

    @property
    def limit(self) -> float:
        """The time the call may take, SLACK aside."""
        if self.cancel is None:
            return self.deadline
        return min(self.deadline, self.cancel)


def panicking(stats: dict[str, Any]) -> bool:
    """The documented panic rule (docs/failover.md): with fewer than `panic`
    (by default half) of the hosts live, hosts that are down count as live."""
    down = sum(s["state"] == "down" for s in stats.values())
    return bool(down) and len(stats) - down < 0.5 * len(stats)


class _Cancelled:
    def __repr__(self) -> str:
        return "CANCELLED"


CANCELLED = _Cancelled()


@dataclass
class Record:
    """One call made, and what came of it."""

    spec: Spec
    rid: str
    members: frozenset[str] = frozenset()  # at the start
    possible: set[str] = field(default_factory=set)  # members at any time
    t_start: float = 0.0
    t_end: float = 0.0
    outcome: Any = None


indices = st.integers(0, POOL - 1)
kinds = st.sampled_from(list(SENDS))
methods = st.sampled_from(["GET", "POST"])
cuts = st.sampled_from([0.0, 0.01, 0.05, 0.15])
calls = st.builds(
    Spec,
    kind=kinds,
    method=methods,
    deadline=st.sampled_from(DEADLINES),
    cut=st.one_of(st.none(), st.none(), cuts),
    delay=st.sampled_from([0.0, 0.01, 0.03]),
)
#: (delay, change, from another thread): on tasks, a change is applied either
#: in the event loop or from a worker thread (the mapping is thread-safe).
ops = st.tuples(
    st.sampled_from([0.0, 0.01, 0.03]),
    st.one_of(
        st.tuples(st.just("add"), indices),
        st.tuples(st.just("discard"), indices),
        st.tuples(st.just("flap"), indices),
        st.tuples(st.just("mode"), indices, st.sampled_from(["ok", *FAULTS])),
        st.tuples(st.just("mode"), indices, st.sampled_from(FAULTS)),
    ),
    st.booleans(),
)
FLAPS = 20  # discards and re-adds of a host in one "flap"


class Interleaving(RuleBasedStateMachine):
    """The rules and checks; a subclass runs calls on threads or on tasks."""

    def __init__(self) -> None:
        super().__init__()
        self.board = Switchboard(POOL)
        self.hosts = self.board.hosts
        self.records: dict[str, Record] = {}
        self.retired: list[Any] = []  # HostStates of discarded hosts
        self._ids = itertools.count()
        self.lock = threading.Lock()
        try:
            self.resources: Any = self.open()
        except BaseException:
            self.board.stop()
            raise

    # What a subclass provides ----------------------------------------------

    def open(self) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def run(self, records: list[Record], ops: list[Any]) -> None:
        """Make every call at once, applying `ops` meanwhile; fill the records."""
        raise NotImplementedError

    def cut_short(self, spec: Spec) -> Spec:
        """`spec` cut short after about `spec.cut` seconds."""
        raise NotImplementedError

    # Shared helpers ---------------------------------------------------------

    def records_for(self, specs: list[Spec]) -> list[Record]:
        records = []
        for spec in specs:
            if spec.cut is not None:
                spec = self.cut_short(spec)
            record = Record(spec, f"r{next(self._ids)}")
            self.records[record.rid] = record
            records.append(record)
        return records

    def arguments(self, record: Record) -> tuple[tuple[Any, ...], dict[str, Any]]:
        spec = record.spec
        body = {"rid": record.rid} if spec.method == "POST" else None
        keywords = {
            "headers": {"X-Request-Id": record.rid},
            "deadline": spec.deadline,
            **EXTRA.get(spec.kind, {}),
        }
        return (spec.method, "/x", body), keywords

    def begin(self, record: Record) -> None:
        record.members = frozenset(self.resources)
        record.possible |= record.members
        record.t_start = time.monotonic()

    def apply(self, op: tuple[Any, ...]) -> None:
        """One membership change or server switch."""
        if op[0] == "add":
            self.resources.add(self.hosts[op[1]])
        elif op[0] == "discard":
            self.discard(self.hosts[op[1]])
        elif op[0] == "flap":  # discarded and back, again and again
            host = self.hosts[op[1]]
            for _ in range(FLAPS):
                self.discard(host)
                self.resources.add(host)
        else:
            self.board.set_mode(op[1], op[2])

    def discard(self, host: str) -> None:
        health = getattr(self.resources, "health", None)
        state = health.get(host) if health is not None else None
        self.resources.discard(host)
        if state is not None:
            with self.lock:
                self.retired.append(state)

    def call_and_check(self, specs: list[Spec], ops: list[Any]) -> None:
        records = self.records_for(specs)
        added = {self.hosts[op[1]] for _, op, _ in ops if op[0] in ("add", "flap")}
        for record in records:
            record.possible |= added
        self.run(records, ops)
        for record in records:
            self.check(record)
        self.settle(records)

    def settle(self, records: list[Record]) -> None:
        """Wait for what the calls left running to end (see OnThreads)."""

    # Rules ------------------------------------------------------------------

    @initialize(members=st.lists(indices, min_size=1, max_size=POOL, unique=True))
    def populate(self, members: list[int]) -> None:
        for index in members:
            self.apply(("add", index))

    @rule(index=indices)
    def add_host(self, index: int) -> None:
        self.apply(("add", index))

    @rule(index=indices)
    def discard_host(self, index: int) -> None:
        self.apply(("discard", index))

    @rule(index=indices, mode=st.sampled_from(FAULTS))
    def fail_host(self, index: int, mode: str) -> None:
        self.apply(("mode", index, mode))

    @rule(index=indices)
    def heal_host(self, index: int) -> None:
        self.apply(("mode", index, "ok"))

    @rule(kind=kinds, method=methods, deadline=st.sampled_from(DEADLINES))
    def call(self, kind: str, method: str, deadline: float) -> None:
        self.call_and_check([Spec(kind, method, deadline)], [])

    @rule(kind=kinds, method=methods, cut=cuts)
    def call_cut_short(self, kind: str, method: str, cut: float) -> None:
        self.call_and_check([Spec(kind, method, max(DEADLINES), cut=cut)], [])

    @rule(
        specs=st.lists(calls, min_size=2, max_size=6),
        changes=st.lists(ops, min_size=1, max_size=5),
    )
    def concurrently(self, specs: list[Spec], changes: list[Any]) -> None:
        self.call_and_check(specs, changes)

    @rule()
    def choice_prefers_live_hosts(self) -> None:
        self.check_choice()

    @invariant()
    def choice_prefers_live_hosts_after_every_step(self) -> None:
        # Also right after calls, while the hosts they found failing are down.
        self.check_choice()

    def check_choice(self) -> None:
        hosts = list(self.resources)
        if not hosts:
            return
        rank = {"up": 0, "avoided": 1, "down": 2}
        for _ in range(5):
            # Nothing runs now, so states only change as time passes, and then
            # only towards "up": a host up before the choice was up during it,
            # a host not up after it was not up during it either.
            before = self.resources.stats()
            chosen = self.resources.choice(hosts)
            after = self.resources.stats()
            if panicking(before) or panicking(after):
                continue  # down hosts count as live: any host may be chosen
            best = min(rank[s["state"]] for s in before.values())
            got = rank[after[chosen]["state"]]
            assert got <= best, (
                f"choice() took {chosen} ({after[chosen]['state']}) over a host "
                f"{['up', 'avoided'][best]}: {before}"
            )

    @invariant()
    def nothing_in_flight(self) -> None:
        stats = self.resources.stats()
        busy = {host: s["in_flight"] for host, s in stats.items() if s["in_flight"]}
        assert not busy, f"in flight with no call running: {busy}"
        with self.lock:
            retired = [
                (s.host, s.in_flight)
                for s in self.retired
                if getattr(s, "in_flight", 0)
            ]
        assert not retired, f"in flight on discarded hosts: {retired}"

    # Checks -----------------------------------------------------------------

    def timeline(self, record: Record) -> str:
        """What the servers saw of a call, in seconds from its start."""
        t0 = record.t_start
        events = [
            f"{a.method} reached {a.host} ({a.mode}) at {a.at - t0:+.3f}"
            for a in self.board.arrivals_of(record.rid)
        ]
        events += [
            f"{a.host} sent {a.status} at "
            + ("?" if a.sent is None else f"{a.sent - t0:+.3f}")
            for a in self.board.answers_of(record.rid)
        ]
        took = record.t_end - t0
        lost = heartbeat.lost(t0, record.t_end)
        return (
            f"{record.rid} {record.spec}, took {took:.3f} s (process paused "
            f"{lost:.3f} s meanwhile): " + "; ".join(events)
        )

    def check_arrival(self, record: Record, arrival: Any) -> None:
        spec = record.spec
        late = arrival.at - (record.t_start + spec.limit)
        lost = heartbeat.lost(record.t_start, arrival.at)
        assert late <= SEND_ALLOWANCE + lost, (
            f"{arrival.method} reached {arrival.host} {late:.3f} s after the "
            f"{'cancellation' if spec.limit != spec.deadline else 'deadline'}: "
            f"{self.timeline(record)}"
        )
        assert arrival.host in record.possible, (
            f"{arrival.host}, never a member: {self.timeline(record)}"
        )

    def check_sends(self, record: Record) -> list[Any]:
        """What reached the servers for `record`: in time, once per host, a
        POST once in all; returns the arrivals."""
        spec = record.spec
        arrivals = self.board.arrivals_of(record.rid)
        for arrival in arrivals:
            self.check_arrival(record, arrival)
        per_host = collections.Counter(a.host for a in arrivals)
        twice = [host for host, n in per_host.items() if n > 1]
        assert not twice, f"sent twice to {twice}: {self.timeline(record)}"
        if spec.kind in UNICASTS:
            assert len(per_host) <= 1 + RETRIES, (
                f"{len(per_host)} attempts: {self.timeline(record)}"
            )
            if spec.method == "POST":
                assert len(arrivals) <= 1, f"POST sent twice: {self.timeline(record)}"
        return arrivals

    def check(self, record: Record) -> None:
        spec, rid, outcome = record.spec, record.rid, record.outcome
        where = f"-> {outcome!r}: {self.timeline(record)}"
        took = record.t_end - record.t_start
        lost = heartbeat.lost(record.t_start, record.t_end)
        assert took <= spec.limit + SLACK + SCHEDULING + lost, f"too long {where}"
        if outcome is CANCELLED:
            assert spec.cancel is not None, where
        elif isinstance(outcome, BaseException):
            allowed: tuple[type[BaseException], ...] = (
                (jsonrest.TransportError, jsonrest.NoHostAvailable)
                if spec.kind in UNICASTS
                else (jsonrest.BroadcastError,)
            )
            if not isinstance(outcome, allowed):
                raise AssertionError(f"unexpected error {where}") from outcome

        answers = self.board.answers_of(rid)  # first: each has its arrival
        arrivals = self.check_sends(record)

        written = {(a.host, a.status) for a in answers}
        if outcome is CANCELLED:
            return
        # An answer must reach the caller if it was all written LATE_MARGIN
        # before the caller could give up: at the deadline (or cancellation),
        # or when the attempt's read timeout ran out, which it does no sooner
        # than TIMEOUT after the request reached the server.
        arrived = {a.host: a.at for a in arrivals}
        timely = []
        for answer in answers:
            if answer.sent is None:
                continue  # still being written when the call was over
            give_up = min(record.t_start + spec.limit, arrived[answer.host] + TIMEOUT)
            margin = LATE_MARGIN + heartbeat.lost(answer.sent, give_up)
            if answer.sent + margin <= give_up:
                timely.append(answer)
        if spec.kind == "quorum":
            self.check_quorum(record, timely, written)
            return
        if spec.kind == "broadcast":
            if isinstance(outcome, jsonrest.BroadcastError):
                responses = dict(outcome.responses)
                failed = [error.host for error in outcome.exceptions]
                both = set(failed) & set(responses)
                assert not both, f"both failed and answered: {both} {where}"
                assert set(failed) <= record.possible, where
            else:
                responses = {response.host: response for response in outcome}
                assert len(responses) == len(outcome), f"a host twice {where}"
            for host, response in responses.items():
                self.check_response(record, host, response, written)
            lost = [a.host for a in timely if a.host not in responses]
            assert not lost, f"answers of {lost} lost {where}"
        elif isinstance(outcome, jsonrest.Response):
            self.check_response(record, outcome.host, outcome, written)
        final = [
            a for a in timely if spec.method == "POST" or a.status not in RETRY_STATUSES
        ]
        if spec.kind == "hedged" and final:
            # Attempts overlap: the first final answer wins, whichever it is
            # (check_response showed it was written for this very request).
            assert isinstance(outcome, jsonrest.Response), (
                f"{[(a.host, a.status) for a in final]} lost {where}"
            )
            assert spec.method == "POST" or outcome.status not in RETRY_STATUSES, (
                f"{outcome.status} returned over {final} {where}"
            )
        if spec.kind == "unicast" and final:
            last = final[-1]
            assert isinstance(outcome, jsonrest.Response), (
                f"{last.host}'s {last.status} lost {where}"
            )
            assert (outcome.host, outcome.status) == (last.host, last.status), (
                f"{last.host}'s {last.status} lost {where}"
            )

    def check_quorum(
        self, record: Record, timely: list[Any], written: set[tuple[str, int]]
    ) -> None:
        outcome = record.outcome
        where = f"-> {outcome!r}: {self.timeline(record)}"
        if isinstance(outcome, jsonrest.BroadcastError):
            for host, response in outcome.responses.items():
                self.check_response(record, host, response, written)
            good = {a.host for a in timely if 200 <= a.status < 300}
            assert len(good) < QUORUM, f"a quorum of {sorted(good)} lost {where}"
        else:
            assert len(outcome) == QUORUM, where
            assert len({response.host for response in outcome}) == QUORUM, where
            for response in outcome:
                assert 200 <= response.status < 300, where
                self.check_response(record, response.host, response, written)

    @staticmethod
    def check_response(
        record: Record, host: str, response: Any, written: set[tuple[str, int]]
    ) -> None:
        where = f"{record.rid} {record.spec}: {response!r}"
        assert response.host == host, where
        assert host in record.possible, where
        assert (host, response.status) in written, f"never written: {where}"
        expected = {"id": record.rid, "host": host, "status": response.status}
        assert response.value == expected, f"{response.value} for {where}"

    def teardown(self) -> None:
        try:
            self.close()
            # Every pool is closed, those of discarded hosts too: every
            # connection ends (a stalled server notices within 20 ms).
            end = time.monotonic() + 5.0
            while self.board.open_connections() and time.monotonic() < end:
                time.sleep(0.01)
            left = self.board.open_connections()
            assert not left, f"{left} connections left open after close()"
            # Requests that a server recorded after their call was checked.
            for arrival in list(self.board.arrivals):
                assert arrival.rid in self.records, f"unknown request {arrival}"
            for record in self.records.values():
                self.check_sends(record)
        finally:
            self.board.stop()


class OnThreads(Interleaving):
    """`Resources`: calls in threads, cut short by a short deadline."""

    def open(self) -> Any:
        return Resources(**OPTIONS)

    def close(self) -> None:
        self.resources.close()

    def cut_short(self, spec: Spec) -> Spec:
        assert spec.cut is not None
        return dataclasses.replace(spec, deadline=max(spec.cut, 0.005))

    def settle(self, records: list[Record]) -> None:
        # Threads cannot be cancelled: the attempts that lost a hedge's or a
        # quorum's race are left to finish, each within its timeout.
        if not any(record.spec.kind in EXTRA for record in records):
            return
        start = time.monotonic()
        while time.monotonic() - start < TIMEOUT + SCHEDULING + heartbeat.lost(
            start, time.monotonic()
        ):
            stats = self.resources.stats().values()
            with self.lock:
                retired = [getattr(s, "in_flight", 0) for s in self.retired]
            if not any(s["in_flight"] for s in stats) and not any(retired):
                return
            time.sleep(0.01)

    def one(self, record: Record) -> None:
        time.sleep(record.spec.delay)
        args, keywords = self.arguments(record)
        send = getattr(self.resources, SENDS[record.spec.kind])
        self.begin(record)
        try:
            record.outcome = send(*args, **keywords)
        except Exception as exc:
            record.outcome = exc
        record.t_end = time.monotonic()

    def changes(self, changes: list[Any]) -> None:
        for delay, op, _ in changes:
            time.sleep(delay)
            self.apply(op)

    def run(self, records: list[Record], ops: list[Any]) -> None:
        if len(records) == 1 and not ops:
            self.one(records[0])
            return
        failures: list[BaseException] = []

        def guarded(target: Callable[..., None], *args: Any) -> None:
            try:
                target(*args)
            except BaseException as exc:
                failures.append(exc)

        threads = [
            threading.Thread(target=guarded, args=(self.one, record))
            for record in records
        ]
        threads.append(threading.Thread(target=guarded, args=(self.changes, ops)))
        for thread in threads:
            thread.start()
        end = time.monotonic() + RUN_LIMIT
        for thread in threads:
            thread.join(max(end - time.monotonic(), 0))
        hung = [thread for thread in threads if thread.is_alive()]
        assert not hung, f"{len(hung)} threads still running after {RUN_LIMIT} s"
        if failures:
            raise failures[0]


class OnTasks(Interleaving):
    """`AsyncResources` on `backend`: calls as tasks, cut short by cancel scopes."""

    def __init__(self, backend: str) -> None:
        self._portal_cm = anyio.from_thread.start_blocking_portal(backend)
        self.portal = self._portal_cm.__enter__()
        try:
            super().__init__()
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            raise

    def open(self) -> Any:
        return self.portal.call(partial(AsyncResources, **OPTIONS))

    def close(self) -> None:
        try:
            self.portal.call(self._aclose)
        finally:
            self._portal_cm.__exit__(None, None, None)

    async def _aclose(self) -> None:
        with anyio.fail_after(RUN_LIMIT):
            await self.resources.aclose()

    def cut_short(self, spec: Spec) -> Spec:
        return dataclasses.replace(spec, cancel=spec.cut)

    async def one(self, record: Record) -> None:
        await anyio.sleep(record.spec.delay)
        args, keywords = self.arguments(record)
        send = getattr(self.resources, SENDS[record.spec.kind])
        self.begin(record)
        try:
            if record.spec.cancel is None:
                record.outcome = await send(*args, **keywords)
            else:
                record.outcome = CANCELLED
                with anyio.move_on_after(record.spec.cancel):
                    record.outcome = await send(*args, **keywords)
        except Exception as exc:
            record.outcome = exc
        record.t_end = time.monotonic()

    async def changes(self, changes: list[Any]) -> None:
        for delay, op, in_thread in changes:
            await anyio.sleep(delay)
            if in_thread:
                await anyio.to_thread.run_sync(self.apply, op)
            else:
                self.apply(op)

    async def _run(self, records: list[Record], ops: list[Any]) -> None:
        with anyio.fail_after(RUN_LIMIT):
            async with anyio.create_task_group() as group:
                for record in records:
                    group.start_soon(self.one, record)
                if ops:
                    group.start_soon(self.changes, ops)

    def run(self, records: list[Record], ops: list[Any]) -> None:
        self.portal.call(self._run, records, ops)


@pytest.fixture(autouse=True)
def beating() -> Iterator[None]:
    global heartbeat
    with Heartbeat() as heartbeat:
        yield
    heartbeat = _NoHeartbeat()


def test_on_threads() -> None:
    run_state_machine_as_test(OnThreads, settings=SETTINGS)


# On trio, a call cancelled between writing a request's headers and its body
# abandons httpx's request-body async generator, and trio warns when it is
# collected: httpx's own doing (encode/httpx#3686), also with a bare
# httpx.AsyncClient, and no invariant of jsonrest's.
@pytest.mark.filterwarnings(
    "ignore:Async generator 'httpx._content.ByteStream.__aiter__' was garbage "
    "collected:ResourceWarning"
)
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_on_tasks(backend: str) -> None:
    run_state_machine_as_test(partial(OnTasks, backend), settings=SETTINGS)
