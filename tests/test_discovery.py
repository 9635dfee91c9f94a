"""The I/O-free discovery core: when to refresh, which answers will do, what
they change; and, with `Health` and call plans, that refreshes mixed with
calls lose nothing (a stateful test on a fake clock)."""

from __future__ import annotations

import gc
import logging
import random
import threading
import time
from typing import Any

import httpx
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import jsonrest
from jsonrest import Member
from jsonrest._call import Call
from jsonrest._discovery import Discovery, check_answer, discovery_options
from jsonrest._health import Health
from jsonrest._request import prepare
from jsonrest._selection import choose
from tests.clock import Clock


def make(clock: Clock, **options: Any) -> Discovery:
    checked = discovery_options(
        object(),
        refresh=options.get("refresh", 10.0),
        min_refresh=options.get("min_refresh", 1.0),
        discover_timeout=None,
        allow_empty=options.get("allow_empty"),
    )
    assert checked is not None
    return Discovery("test()", checked, clock=clock, wall=lambda: 0.0)


def refresh(discovery: Discovery, answer: Any, members: list[str]) -> Any:
    assert discovery.begin()
    try:
        return discovery.answered(answer, members)
    finally:
        discovery.end()


# When -------------------------------------------------------------------------


def test_due_at_start_then_every_refresh() -> None:
    clock = Clock()
    discovery = make(clock)
    assert discovery.due()
    assert discovery.delay() == 0
    refresh(discovery, ["a:1"], [])
    assert not discovery.due()
    assert discovery.delay() == 10.0
    clock.now += 9.9
    assert not discovery.due()
    clock.now += 0.1
    assert discovery.due()


def test_one_refresh_at_a_time() -> None:
    discovery = make(Clock())
    assert discovery.begin()
    assert not discovery.begin()
    assert not discovery.due()
    assert not discovery.needed(empty=True)
    discovery.end()
    assert discovery.begin()


def test_a_host_down_brings_the_refresh_early_but_not_within_min_refresh() -> None:
    clock = Clock()
    discovery = make(clock, refresh=30.0, min_refresh=2.0)
    refresh(discovery, ["a:1"], [])
    clock.now += 0.5
    assert not discovery.host_down()  # within min_refresh of the last
    assert discovery.delay() == pytest.approx(1.5)
    clock.now += 1.5
    assert discovery.due()
    refresh(discovery, ["a:1"], ["a:1"])
    assert not discovery.due()  # the early request was served
    assert discovery.delay() == pytest.approx(30.0)


def test_a_call_without_members_may_refresh_early_under_the_same_limit() -> None:
    clock = Clock()
    discovery = make(clock, refresh=30.0, min_refresh=2.0, allow_empty=True)
    refresh(discovery, [], [])
    assert not discovery.needed(empty=False)
    assert not discovery.needed(empty=True)
    clock.now += 2.0
    assert discovery.needed(empty=True)
    assert not discovery.needed(empty=False)


def test_options_are_checked() -> None:
    with pytest.raises(TypeError, match="refresh need"):
        discovery_options(
            None, refresh=5, min_refresh=None, discover_timeout=None, allow_empty=None
        )
    with pytest.raises(ValueError, match="min_refresh must be <= refresh"):
        discovery_options(
            len, refresh=1, min_refresh=2, discover_timeout=None, allow_empty=None
        )
    with pytest.raises(TypeError, match="allow_empty must be a bool"):
        discovery_options(
            len, refresh=None, min_refresh=None, discover_timeout=None, allow_empty=1
        )
    with pytest.raises(ValueError, match="refresh must be seconds"):
        discovery_options(
            len, refresh=0, min_refresh=None, discover_timeout=None, allow_empty=None
        )
    options = discovery_options(
        len, refresh=0.5, min_refresh=None, discover_timeout=None, allow_empty=None
    )
    assert options == (0.5, 0.5, 5.0, False)


# Answers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("a:1", "one str"),
        (b"a:1", "one bytes"),
        ({"a:1": 1}, "a mapping"),
        (None, "None"),
        (42, "42 (int)"),
        (["a:1", 7], "item 1 is 7 (int)"),
        (["a:1", "not a host"], "item 1: invalid host"),
        (["http://a:1?x"], "no query"),
        ([Member(3)], "item 0 has a host that is not a str"),  # type: ignore[arg-type]
    ],
)
def test_garbage_is_refused_whole(answer: Any, why: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_answer(answer)
    assert why in str(caught.value)


def test_answers_name_members_once_in_order() -> None:
    srv = Member("http://b:2", None, 10, 5)
    assert check_answer(iter(["a:1", srv, "a:1", "c:3"])) == [
        Member("a:1"),
        srv,
        Member("c:3"),
    ]


def test_the_change_makes_members_exactly_the_answer() -> None:
    discovery = make(Clock())
    change = refresh(discovery, ["b:1", "c:1", "b:1"], ["a:1", "b:1"])
    assert change.added == (Member("c:1"),)
    assert change.removed == ("a:1",)
    assert set(discovery.members) == {"b:1", "c:1"}


def test_failures_keep_members_and_warn_once_per_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="jsonrest")
    discovery = make(Clock())
    refresh(discovery, ["a:1"], [])
    assert refresh(discovery, "a:1", ["a:1"]) is None
    assert refresh(discovery, [], ["a:1"]) is None  # empty, not allowed
    discovery.begin()
    discovery.failed(OSError("unreachable"), 1)
    discovery.end()
    assert set(discovery.members) == {"a:1"}
    levels = [r.levelno for r in caplog.records if "failed" in r.getMessage()]
    assert levels == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert discovery.stats()["failing"] == 3
    assert discovery.stats()["error"] == "OSError: unreachable"
    # An answer again: one INFO line says so, and the next failure warns.
    refresh(discovery, ["a:1"], ["a:1"])
    assert "answered again after 3 failure(s)" in caplog.records[-1].getMessage()
    assert refresh(discovery, None, ["a:1"]) is None
    assert caplog.records[-1].levelno == logging.WARNING


def test_an_empty_answer_when_allowed() -> None:
    discovery = make(Clock(), allow_empty=True)
    change = refresh(discovery, [], ["a:1"])
    assert change.removed == ("a:1",)
    assert discovery.members == {}


def test_a_raising_answer_is_a_failure() -> None:
    def answer() -> Any:
        yield "a:1"
        raise KeyError("members")

    discovery = make(Clock())
    assert refresh(discovery, answer(), []) is None
    assert discovery.stats()["error"] == "KeyError: 'members'"


def test_stats_count_what_changed() -> None:
    discovery = make(Clock())
    refresh(discovery, ["a:1", "b:1"], [])
    refresh(discovery, ["b:1", "c:1"], ["a:1", "b:1"])
    stats = discovery.stats()
    assert stats["refreshes"] == 2
    assert (stats["added"], stats["removed"]) == (3, 1)
    assert (stats["last_added"], stats["last_removed"]) == (["c:1"], ["a:1"])
    assert stats["next_refresh"] == pytest.approx(10.0)


# Refreshes mixed with calls ---------------------------------------------------

HOSTS = [f"h{i}:1" for i in range(6)]


class RefreshesUnderCalls(RuleBasedStateMachine):
    """Calls start and end on a Health while refreshes change its members.

    The members are always the last accepted answer; a call never starts on a
    host discarded before it chose; a discarded host's calls in flight end
    normally, and its pool is handed back to close exactly once, after the
    last of them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.health = Health(clock=self.clock)
        self.rng = random.Random(7)
        self.discovery = make(self.clock, refresh=1.0, min_refresh=0.1)
        self.answer: list[str] = []
        self.calls: list[tuple[Call, Any]] = []  # (plan, attempt in flight)
        self.closed: list[Any] = []  # states whose pool was handed back
        self.sent = 0
        self.ended = 0

    def apply(self, answer: Any) -> None:
        change = refresh(self.discovery, answer, list(self.health.hosts))
        if change is None:
            return
        # As the twins apply it: one update of the membership.
        added = [(member.host, object()) for member in change.added]
        self.health.update(added, change.removed)
        self.answer = [m.host for m in check_answer(answer)]
        self.closed += self.health.reapable()

    @rule(hosts=st.lists(st.sampled_from(HOSTS), min_size=1, max_size=6))
    def refresh_with(self, hosts: list[str]) -> None:
        self.apply(hosts)

    @rule(garbage=st.sampled_from(["h1:1", None, [], [1], ["bad host"]]))
    def refresh_with_garbage(self, garbage: Any) -> None:
        self.apply(garbage)

    @rule()
    def start_call(self) -> None:
        request = prepare("GET", "/x", None, None, None, None)
        call = Call(
            request,
            self.health.hosts,
            health=self.health,
            choose=lambda hosts: choose(
                hosts, self.health.priority, self.health, self.rng
            ),
            retries=1,
            timeout=None,
            deadline=None,
        )
        attempt = call.next()
        if attempt is None:
            assert not self.health.hosts
            return
        assert attempt.host in self.health.hosts  # never a discarded host
        self.sent += 1
        self.calls.append((call, attempt))

    @rule(data=st.data())
    def end_call(self, data: st.DataObject) -> None:
        if not self.calls:
            return
        index = data.draw(st.integers(0, len(self.calls) - 1))
        call, attempt = self.calls.pop(index)
        last = call.ended(attempt, None, 0.001)
        self.ended += 1
        reaped = self.health.reapable()  # as the twins do when `ended` says so
        assert (attempt.state in reaped) == last
        self.closed += reaped

    @rule()
    def time_passes(self) -> None:
        self.clock.now += 0.5

    @invariant()
    def members_are_the_last_answer(self) -> None:
        if self.discovery.refreshes and self.answer:
            assert set(self.health.hosts) == set(self.answer)

    @invariant()
    def pools_close_once_after_their_last_call(self) -> None:
        ids = [id(state) for state in self.closed]
        assert len(ids) == len(set(ids))
        for state in self.closed:
            assert state.retired
            assert state.in_flight == 0
        in_flight = sum(s.in_flight for s in self.health.states.values())
        retired = sum(s.in_flight for s in self.health._retired)
        assert in_flight + retired == len(self.calls) == self.sent - self.ended


RefreshesUnderCalls.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, derandomize=True
)
test_refreshes_under_calls = RefreshesUnderCalls.TestCase


# The blocking twin's thread -----------------------------------------------------


def _discovery_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "jsonrest-discovery"]


def _wait(condition: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "still false"
        time.sleep(0.01)


def test_the_thread_starts_on_first_use_and_stops_on_close() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    cluster = jsonrest.Resources(
        discover=lambda: ["a.example:80"], refresh=0.01, transport=transport
    )
    assert _discovery_threads() == []  # nothing runs before it is used
    assert cluster.unicast("GET", "/").status == 200
    assert len(_discovery_threads()) == 1
    cluster.close()
    assert _discovery_threads() == []


def test_the_thread_ends_with_a_cluster_dropped_unclosed() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    cluster = jsonrest.Resources(
        discover=lambda: ["a.example:80"], refresh=0.01, transport=transport
    )
    cluster.unicast("GET", "/")
    assert len(_discovery_threads()) == 1
    del cluster
    gc.collect()
    _wait(lambda: _discovery_threads() == [])
