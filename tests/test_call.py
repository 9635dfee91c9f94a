"""The call plans (`Call`, `Broadcast`) and health, driven without sockets."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest

import jsonrest
from jsonrest._call import Attempt, Broadcast, Call, attempt_timeout
from jsonrest._deadline import Deadline
from jsonrest._health import Health
from jsonrest._request import prepare
from jsonrest._selection import choose

from .clock import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_health(clock: Clock, hosts: Sequence[str]) -> Health:
    return Health(hosts, clock=clock, rng=random.Random(1))


def error(cause: Exception, host: str = "h") -> jsonrest.TransportError:
    kind = (
        jsonrest.Timeout
        if isinstance(cause, httpx.TimeoutException)
        else jsonrest.TransportError
    )
    made = kind(f"{type(cause).__name__} talking to {host}", host=host)
    made.__cause__ = cause
    return made


def response(status: int, host: str, **headers: str) -> jsonrest.Response:
    # Header bytes as they come off the wire: latin-1, as httpx decodes them.
    raw = httpx.Headers({k: v.encode("utf-8") for k, v in headers.items()})
    return jsonrest.Response(status, b"", headers=raw, host=host)


def make_call(
    health: Health,
    method: str = "GET",
    *,
    hosts: Sequence[str] | None = None,
    retries: int = 2,
    deadline: Deadline | None = None,
    priority: Callable[[str], Any] | None = None,
    **kw: Any,
) -> Call:
    rng = random.Random(3)
    rank = priority or health.priority
    return Call(
        prepare(method, "/x?secret=1"),
        list(health.hosts if hosts is None else hosts),
        health=health,
        choose=lambda candidates: choose(candidates, rank, health, rng),
        retries=retries,
        timeout=5.0,
        deadline=deadline,
        **kw,
    )


def attempt(call: Call) -> Attempt:
    made = call.next()
    assert made is not None
    return made


@pytest.mark.parametrize(
    ("method", "cause", "retry", "blamed"),
    [
        ("POST", httpx.ConnectError("refused"), True, True),
        ("POST", httpx.PoolTimeout("busy"), True, False),
        ("POST", httpx.ReadTimeout("slow"), False, True),
        ("PATCH", httpx.RemoteProtocolError("closed"), False, True),
        ("GET", httpx.ReadTimeout("slow"), True, True),
        ("PUT", httpx.ReadError("reset"), True, True),
        ("DELETE", httpx.RemoteProtocolError("closed"), True, True),
        ("GET", httpx.UnsupportedProtocol("x"), False, False),
    ],
)
def test_failover_verdicts(
    clock: Clock, method: str, cause: Exception, retry: bool, blamed: bool
) -> None:
    health = make_health(clock, ["a", "b"])
    call = make_call(health, method)
    first = attempt(call)
    call.failed(first, error(cause, first.host))
    assert (call.next() is not None) is retry
    assert health.down(first.host) is blamed


def test_every_attempt_error_is_kept_and_the_cause_chain_ends(clock: Clock) -> None:
    health = make_health(clock, ["a", "b"])
    call = make_call(health, "POST", idempotent=True, retries=1)
    drops = []
    while (one := call.next()) is not None:
        drops.append(error(httpx.ReadError("reset"), one.host))
        call.failed(one, drops[-1])
    with pytest.raises(jsonrest.TransportError) as caught:
        call.result()
    raised = caught.value
    assert sorted(raised.hosts) == ["a", "b"]
    assert raised.errors == tuple(drops)
    assert isinstance(raised.__cause__, httpx.ReadError)
    assert "talking to a" in str(raised)
    assert "talking to b" in str(raised)


def test_one_failed_attempt_is_not_its_own_cause(clock: Clock) -> None:
    health = make_health(clock, ["a"])
    call = make_call(health, retries=0)
    only = attempt(call)
    refused = error(httpx.ConnectError("refused"), "a")
    call.failed(only, refused)
    with pytest.raises(jsonrest.TransportError) as caught:
        call.result()
    assert caught.value is not refused
    assert caught.value.errors == (refused,)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert caught.value.__cause__.__cause__ is None


def test_statuses_fail_over_only_when_idempotent(clock: Clock) -> None:
    for method, expected in (("GET", True), ("POST", False)):
        health = make_health(clock, ["a", "b"])
        call = make_call(health, method)
        first = attempt(call)
        call.answered(first, response(503, first.host))
        assert (call.next() is not None) is expected
    for status in (500, 429, 404):
        health = make_health(clock, ["a", "b"])
        call = make_call(health)
        first = attempt(call)
        call.answered(first, response(status, first.host))
        assert call.next() is None
        assert call.result().status == status


def test_the_last_503_is_returned_when_no_other_host_may_be_chosen(
    clock: Clock,
) -> None:
    health = make_health(clock, ["a", "b", "c"])
    call = make_call(health, priority=lambda h: 0 if h == "a" else None)
    first = attempt(call)
    assert first.host == "a"
    call.answered(first, response(503, "a"))
    assert call.next() is None  # b and c are removed from choice: not candidates
    assert call.result().status == 503


def test_hosts_removed_from_choice_are_no_failover_candidates(clock: Clock) -> None:
    health = make_health(clock, ["a", "b"])
    call = make_call(health, "POST", priority=lambda h: 0 if h == "a" else None)
    first = attempt(call)
    call.failed(first, error(httpx.ConnectError("refused"), "a"))
    assert call.next() is None
    with pytest.raises(jsonrest.TransportError) as caught:
        call.result()
    assert not isinstance(caught.value, jsonrest.NoHostAvailable)
    assert caught.value.hosts == ("a",)


def test_a_host_discarded_during_failover_is_skipped(clock: Clock) -> None:
    health = make_health(clock, ["a", "b", "c"])
    # An override that ignores health and membership: prefers b, then c.
    call = make_call(health, priority={"a": 0, "b": 1, "c": 2}.get)
    first = attempt(call)
    call.failed(first, error(httpx.ConnectError("refused"), "a"))
    health.discard("b")
    second = attempt(call)
    assert second.host == "c"
    assert call.tried == ["a", "c"]


def test_no_member_left_ends_the_call(clock: Clock) -> None:
    health = make_health(clock, ["a", "b"])
    call = make_call(health, priority=lambda h: 0)
    first = attempt(call)
    call.failed(first, error(httpx.ConnectError("refused"), "a"))
    health.discard("b")
    assert call.next() is None
    with pytest.raises(jsonrest.TransportError):
        call.result()


def test_no_host_at_all(clock: Clock) -> None:
    health = make_health(clock, [])
    call = make_call(health)
    assert call.next() is None
    with pytest.raises(jsonrest.NoHostAvailable):
        call.result()


def test_a_timeout_at_the_deadline_is_the_deadline_not_the_host(clock: Clock) -> None:
    health = make_health(clock, ["a", "b"])
    call = make_call(health, deadline=Deadline(2.0, clock))
    first = attempt(call)
    assert first.timeout == 2.0  # shortened to fit the deadline
    clock.now += 2.0
    call.failed(first, error(httpx.ConnectTimeout("slow"), first.host))
    assert not health.down(first.host)
    assert health.state(first.host).failures == 0
    assert call.next() is None
    with pytest.raises(jsonrest.Timeout, match=r"deadline of 2\.0 s exceeded"):
        call.result()


def test_nothing_starts_after_the_deadline(clock: Clock) -> None:
    health = make_health(clock, ["a", "b"])
    call = make_call(health, deadline=Deadline(1.0, clock))
    first = attempt(call)
    call.answered(first, response(503, first.host))
    clock.now += 1.0
    assert call.next() is None
    with pytest.raises(jsonrest.Timeout, match=r"deadline of 1\.0 s"):
        call.result()
    plan = Broadcast(
        prepare("GET", "/x"),
        ["a", "b"],
        health=health,
        timeout=5.0,
        deadline=Deadline(1.0, clock),
    )
    clock.now += 1.0
    assert plan.start("a") is None
    with pytest.raises(jsonrest.BroadcastError) as caught:
        plan.result()
    assert "deadline of 1.0 s exceeded" in str(caught.value.exceptions[0])


def test_a_burst_of_failures_costs_one_backoff_step(clock: Clock) -> None:
    health = make_health(clock, ["a"])
    calls = [make_call(health, retries=0) for _ in range(20)]
    attempts = [attempt(call) for call in calls]
    for call, one in zip(calls, attempts, strict=True):
        call.failed(one, error(httpx.ConnectError("refused"), "a"))
    state = health.state("a")
    assert state.failures == 1
    assert state.errors == 20
    assert health.until("a") - clock.now <= 1.0
    # A probe sent after the host was marked down does escalate.
    clock.now += 5
    call = make_call(health, retries=0)
    probe = attempt(call)
    call.failed(probe, error(httpx.ConnectError("refused"), "a"))
    assert state.failures == 2


def test_retry_after_avoids_without_marking_down_and_bad_values_are_ignored(
    clock: Clock,
) -> None:
    health = make_health(clock, ["a", "b"])
    for value in ("²", "Mon, 01 Jan 99999999999999999999 00:00:00 GMT", "x"):
        call = make_call(health, "POST", hosts=["a"])
        one = attempt(call)
        call.answered(one, response(429, "a", **{"retry-after": value}))
        assert call.result().status == 429
        assert health.rank("a") == 0
    call = make_call(health, "POST", hosts=["a"])
    one = attempt(call)
    call.answered(one, response(429, "a", **{"retry-after": "30"}))
    assert health.rank("a") == 1
    assert not health.down("a")


def test_an_avoided_host_is_chosen_before_a_down_one(clock: Clock) -> None:
    health = make_health(clock, ["avoided", "down"])
    health.avoid("avoided", 30)
    health.failed("down")  # back within a second, sooner than 30 s
    picks = {
        choose(["avoided", "down"], health.priority, health, random.Random(i))
        for i in range(20)
    }
    assert picks == {"avoided"}


def test_choosing_costs_the_same_whatever_the_health(clock: Clock) -> None:
    hosts = [f"h{i}" for i in range(10_000)]
    health = make_health(clock, hosts)
    health.failed(hosts[-1])
    looked_at = 0
    rank = health.rank

    def counting(host: str) -> int | None:
        nonlocal looked_at
        looked_at += 1
        return rank(host)

    health.rank = counting  # type: ignore[method-assign]
    rng = random.Random(5)
    for _ in range(100):
        assert choose(hosts, health.priority, health, rng) != hosts[-1]
    assert looked_at <= 200  # two samples a choice, never a scan of all
    assert not health.all_healthy()
    clock.now += 60
    assert health.all_healthy()


def test_health_is_safe_while_members_change(clock: Clock) -> None:
    hosts = [f"h{i}" for i in range(50)]
    health = make_health(clock, hosts)
    health.failed("h0")
    stop = threading.Event()
    problems: list[BaseException] = []

    def churn() -> None:
        i = 0
        while not stop.is_set():
            name = f"x{i % 20}"
            health.add(name)
            health.failed(name)
            health.discard(name)
            i += 1

    def choosing() -> None:
        rng = random.Random(6)
        try:
            for _ in range(5000):
                choose(list(health.hosts), health.priority, health, rng)
                health.all_healthy()
                health.stats()
        except BaseException as exc:
            problems.append(exc)

    threads = [threading.Thread(target=churn)] + [
        threading.Thread(target=choosing) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads[1:]:
        thread.join(30)
    stop.set()
    threads[0].join(30)
    assert problems == []
    assert not health.all_healthy()  # h0 is still down: the failure was kept


def test_broadcast_skips_discarded_hosts_and_keeps_every_response(
    clock: Clock,
) -> None:
    health = make_health(clock, ["a", "b", "c"])
    plan = Broadcast(
        prepare("GET", "/x"), ["a", "b", "c"], health=health, timeout=5.0, deadline=None
    )
    first = plan.start("a")
    assert first is not None
    health.discard("b")
    assert plan.start("b") is None
    third = plan.start("c")
    assert third is not None
    plan.answered(first, response(200, "a"))
    plan.failed(third, error(httpx.ConnectError("refused"), "c"))
    with pytest.raises(jsonrest.BroadcastError) as caught:
        plan.result()
    assert list(caught.value.responses) == ["a"]
    assert [e.host for e in caught.value.exceptions] == ["c"]  # type: ignore[attr-defined]
    assert health.down("c")


def test_in_flight_returns_to_zero_and_discarded_hosts_are_reaped(
    clock: Clock,
) -> None:
    health = make_health(clock, ["a"])
    call = make_call(health)
    one = attempt(call)
    assert health.state("a").in_flight == 1
    health.discard("a")
    assert health.reapable() == []  # still in flight
    assert call.ended(one, response(200, "a"), 0.5) is True
    assert [state.host for state in health.reapable()] == ["a"]


def test_attempt_timeout() -> None:
    assert attempt_timeout(5.0, None) is None
    assert attempt_timeout(5.0, 10.0) is None
    assert attempt_timeout(5.0, 2.0) == 2.0
    assert attempt_timeout(None, 2.0) == 2.0
    capped = attempt_timeout(httpx.Timeout(5.0, connect=1.0), 2.0)
    assert capped == httpx.Timeout(2.0, connect=1.0)
