"""Health, selection and failover decisions: the core, without sockets."""

from __future__ import annotations

import collections
import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jsonrest
from jsonrest._faults import Fault, classify
from jsonrest._health import Health
from jsonrest._retry_after import parse_retry_after
from jsonrest._selection import choose, choose_by_load

from .clock import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_health(clock: Clock, hosts: list[str], **kw: float) -> Health:
    return Health(hosts, clock=clock, rng=random.Random(1), **kw)


def test_backoff_doubles_with_jitter_and_caps(clock: Clock) -> None:
    health = make_health(clock, ["a"], backoff=1.0, max_backoff=8.0)
    delays = [health.failed("a") for _ in range(6)]
    for delay, full in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert full / 2 <= delay <= full
    assert health.down("a")
    assert not health.live("a")
    health.succeeded("a")
    assert health.live("a")
    assert 0.5 <= health.failed("a") <= 1.0  # the backoff starts over


def test_priority_ranks_live_then_avoided_then_down(clock: Clock) -> None:
    health = make_health(clock, ["busy", "idle", "avoided", "down", "later"])
    health.started(health.state("busy"))
    health.avoid("avoided", 5)
    health.failed("down")
    health.failed("later")
    health.failed("later")
    order = sorted(health.states, key=health.priority)
    assert order == ["idle", "busy", "avoided", "down", "later"]
    clock.now += 100
    assert all(health.live(h) for h in health.states)


def test_retry_after_is_capped_and_not_a_failure(clock: Clock) -> None:
    health = make_health(clock, ["a"], max_retry_after=10)
    health.avoid("a", 3600)
    assert health.until("a") == clock.now + 10
    assert health.states["a"].failures == 0
    assert not health.down("a")


def test_stats(clock: Clock) -> None:
    health = make_health(clock, ["a", "b"])
    state = health.state("a")
    health.started(state)
    health.finished(state, 0.25)
    health.started(health.state("a"))
    health.failed("b")
    stats = health.stats()
    assert stats["a"]["requests"] == 2
    assert stats["a"]["in_flight"] == 1
    assert stats["a"]["mean_latency"] == 0.25
    assert stats["a"]["state"] == "up"
    assert stats["b"]["state"] == "down"
    assert stats["b"]["failures"] == 1
    assert stats["b"]["until"] is not None


def test_parse_retry_after() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    assert 25 < (parse_retry_after(format_datetime(when, usegmt=True)) or 0) <= 31


@pytest.mark.parametrize("count", [2, 5, 8, 9, 100, 1000])
def test_choice_spreads_over_equal_hosts(clock: Clock, count: int) -> None:
    hosts = [f"h{i}" for i in range(count)]
    health = make_health(clock, hosts)
    rng = random.Random(2)
    picks = collections.Counter(
        choose(hosts, health.priority, health, rng) for _ in range(3000)
    )
    assert len(picks) == min(count, 3000) or len(picks) > 0.9 * count
    assert max(picks.values()) < 3000 / count * 2 + 10


@pytest.mark.parametrize("count", [3, 50])
def test_choice_never_picks_a_down_host_while_a_live_one_exists(
    clock: Clock, count: int
) -> None:
    hosts = [f"h{i}" for i in range(count)]
    health = make_health(clock, hosts)
    for host in hosts[:-1]:
        health.failed(host)
    rng = random.Random(3)
    assert {choose(hosts, health.priority, health, rng) for _ in range(200)} == {
        hosts[-1]
    }


def test_choice_when_all_are_down_takes_the_first_to_return(clock: Clock) -> None:
    hosts = [f"h{i}" for i in range(20)]
    health = make_health(clock, hosts)
    for host in hosts:
        health.failed(host)
    soonest = min(hosts, key=health.until)
    assert choose(hosts, health.priority, health, random.Random(4)) == soonest


def test_choice_prefers_fewer_in_flight(clock: Clock) -> None:
    hosts = ["a", "b", "c"]
    health = make_health(clock, hosts)
    health.started(health.state("a"))
    health.started(health.state("b"))
    assert choose(hosts, health.priority, health, random.Random(5)) == "c"


def test_power_of_two_choices_favours_idle_hosts(clock: Clock) -> None:
    hosts = [f"h{i}" for i in range(100)]
    health = make_health(clock, hosts)
    for host in hosts[:50]:
        for _ in range(3):
            health.started(health.state(host))
    rng = random.Random(6)
    picks = [choose(hosts, health.priority, health, rng) for _ in range(2000)]
    idle = sum(int(p[1:]) >= 50 for p in picks)
    assert idle > 0.7 * len(picks)  # about 3/4 with two samples


def test_choice_honours_none_and_raises_when_nothing_is_left(clock: Clock) -> None:
    hosts = [f"h{i}" for i in range(20)]
    health = make_health(clock, hosts)

    def only_h7(host: str) -> int | None:
        return 0 if host == "h7" else None

    assert {choose(hosts, only_h7, health, random.Random(7)) for _ in range(50)} == {
        "h7"
    }
    with pytest.raises(jsonrest.NoHostAvailable):
        choose(hosts, lambda host: None, health, random.Random(8))
    with pytest.raises(jsonrest.NoHostAvailable):
        choose([], health.priority, health, random.Random(9))


def transport_error(cause: Exception) -> jsonrest.TransportError:
    error = jsonrest.TransportError(str(cause), host="h")
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("cause", "fault"),
    [
        (httpx.ConnectError("refused"), Fault.CONNECT),
        (httpx.ConnectTimeout("slow"), Fault.CONNECT),
        (httpx.PoolTimeout("busy"), Fault.POOL),
        (httpx.ReadTimeout("slow"), Fault.TIMEOUT),
        (httpx.WriteTimeout("slow"), Fault.TIMEOUT),
        (httpx.ReadError("reset"), Fault.DROPPED),
        (httpx.RemoteProtocolError("closed"), Fault.DROPPED),
        (httpx.UnsupportedProtocol("ftp"), Fault.LOCAL),
    ],
)
def test_classify(cause: Exception, fault: Fault) -> None:
    assert classify(transport_error(cause)) is fault


@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),  # requests in flight
            st.sampled_from([0.0, 0.001, 0.00105, 0.002, 0.05]),  # latency (s)
            # Mostly live: ties among live hosts are what the fusion changes.
            st.sampled_from(["live"] * 5 + ["down", "avoided", "discarded"]),
        ),
        min_size=1,
        max_size=12,
    ),
    st.integers(0, 2**32),
)
def test_the_fused_default_choice_is_choose_by_the_default_priority(
    hosts: list[tuple[int, float, str]], seed: int
) -> None:
    """`choose_by_load` (what a cluster runs for its default `priority`)
    chooses exactly as `choose` with `Health.priority`, given the same random
    numbers, whatever the hosts' load, latency and health."""
    clock = Clock()
    names = [f"h{i}" for i in range(len(hosts))]
    health = make_health(clock, names)
    for name, (in_flight, latency, status) in zip(names, hosts, strict=True):
        state = health.state(name)
        for _ in range(in_flight):
            health.started(state)
        if latency:
            health.started(state)
            clock.now += 0.001
            health.finished(state, latency)
        if status == "down":
            health.failed(name)
        elif status == "avoided":
            health.avoid(name, 5.0)
    for name, (_, _, status) in zip(names, hosts, strict=True):
        if status == "discarded":
            health.discard(name)
    try:
        expected: str | type[Exception] = choose(
            names, health.priority, health, random.Random(seed)
        )
    except jsonrest.NoHostAvailable as exc:
        expected = type(exc)
    try:
        got: str | type[Exception] = choose_by_load(names, health, random.Random(seed))
    except jsonrest.NoHostAvailable as exc:
        got = type(exc)
    assert got == expected
