"""Tail tolerance in the core, without sockets and on a fake clock: latency
estimates and choice, the retry budget, outlier ejection with its cap and
panic, hedged calls and quorum broadcasts."""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

import jsonrest
from jsonrest._budget import RetryBudget
from jsonrest._call import Attempt, Broadcast, Call
from jsonrest._health import DOWN, LIVE, Health
from jsonrest._hedge import Hedge, hedge_option
from jsonrest._latency import PENALTY, STEP, Recent, estimate, observe, score
from jsonrest._outliers import Detector, Outliers
from jsonrest._request import prepare
from jsonrest._selection import choose

from .clock import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_health(clock: Clock, hosts: Sequence[str], **kw: Any) -> Health:
    return Health(hosts, clock=clock, rng=random.Random(1), **kw)


def response(status: int, host: str, **headers: str) -> jsonrest.Response:
    return jsonrest.Response(status, b"", headers=httpx.Headers(headers), host=host)


def error(cause: Exception, host: str) -> jsonrest.TransportError:
    made = jsonrest.TransportError(f"{type(cause).__name__} on {host}", host=host)
    made.__cause__ = cause
    return made


def make_call(health: Health, method: str = "GET", **kw: Any) -> Call:
    rng = random.Random(3)
    return Call(
        prepare(method, "/x"),
        list(health.hosts),
        health=health,
        choose=lambda hosts: choose(hosts, health.priority, health, rng),
        retries=kw.pop("retries", 2),
        timeout=5.0,
        deadline=None,
        **kw,
    )


def served(health: Health, clock: Clock, host: str, seconds: float) -> None:
    """One request to `host` that took `seconds`, ending now."""
    state = health.state(host)
    health.started(state)
    clock.now += seconds
    health.finished(state, seconds)


def begun(made: Attempt | None) -> Attempt:
    assert made is not None
    return made


# Latency ------------------------------------------------------------------


def test_a_peak_raises_the_estimate_at_once_and_it_decays() -> None:
    cost = observe(0.0, 0.0, 0.0, 0.010)
    assert cost == 0.010
    assert observe(cost, 0.0, 0.0, 0.050) == 0.050  # slower: the new peak
    faster = observe(cost, 0.0, 10.0, 0.001)  # one decay time later
    assert 0.001 < faster < 0.010
    # Answers in quick succession still pull it down, a tenth of the way each.
    assert observe(0.010, 0.0, 0.0, 0.001) == pytest.approx(0.0091)
    assert estimate(cost, 0.0, 10.0) == pytest.approx(0.010 / 2.718281828, rel=1e-6)
    assert estimate(0.0, 0.0, 5.0) == 0.0


def test_score_weighs_latency_with_requests_in_flight() -> None:
    assert score(0.0, 0.0, 0.0, 0) == 0.0  # never measured: tried first
    assert score(0.0, 0.0, 0.0, 2) == PENALTY + 2  # busy and never measured
    fast, slow = score(0.001, 0.0, 0.0, 0), score(0.010, 0.0, 0.0, 0)
    assert fast < slow
    assert score(0.001, 0.0, 0.0, 20) < slow  # a host ten times slower stays behind
    assert score(0.001, 0.0, 0.0, 150) > slow  # ... until about 100 in flight
    assert score(0.001, 0.0, 0.0, 3) < score(0.001, 0.0, 0.0, 4)  # fewer first
    assert score(0.0011, 0.0, 0.0, 0) == score(0.00115, 0.0, 0.0, 0)  # alike: equals


@pytest.mark.parametrize("in_flight", [0, 1, 126, 127, 128, 129, 1000])
@pytest.mark.parametrize("seconds", [1e-6, 0.001, 0.3, 60.0, 1e6, 1e9])
def test_score_is_the_estimate_in_steps_times_the_root_of_the_load(
    in_flight: int, seconds: float
) -> None:
    """Whatever the load and latency (inside the tables the score is read
    from, and beyond them), a score is the estimate in µs rounded down to a
    power of `STEP`, times the square root of the requests in flight plus 1."""
    decayed = estimate(seconds, 0.0, 3.0)
    steps = max(math.floor(math.log(decayed * 1e6) / math.log(STEP)), 1)
    expected = STEP**steps * math.sqrt(in_flight + 1)
    assert score(seconds, 0.0, 3.0, in_flight) == pytest.approx(expected, rel=1e-9)


def test_choice_prefers_the_fast_host_and_probes_the_slow_one_later(
    clock: Clock,
) -> None:
    health = make_health(clock, ["a", "b", "slow"])
    for host, seconds in (("a", 0.002), ("b", 0.002), ("slow", 0.02)):
        served(health, clock, host, seconds)
    rng = random.Random(5)
    picks = [choose(health.hosts, health.priority, health, rng) for _ in range(200)]
    assert "slow" not in picks
    assert {"a", "b"} == set(picks)  # equals share the load
    clock.now += 60  # six decay times: the slow host's old peak has faded
    served(health, clock, "a", 0.002)
    served(health, clock, "b", 0.002)
    picks = [choose(health.hosts, health.priority, health, rng) for _ in range(50)]
    assert "slow" in picks


def test_a_fast_host_that_is_down_is_never_chosen_over_a_live_one(
    clock: Clock,
) -> None:
    health = make_health(clock, ["fast", "slow"])
    served(health, clock, "fast", 0.001)
    served(health, clock, "slow", 0.5)
    health.failed("fast")
    rng = random.Random(1)
    assert {choose(health.hosts, health.priority, health, rng) for _ in range(20)} == {
        "slow"
    }


def test_stats_show_the_latency_estimate(clock: Clock) -> None:
    health = make_health(clock, ["a"])
    served(health, clock, "a", 0.004)
    assert health.stats()["a"]["latency"] == pytest.approx(0.004)
    clock.now += 10
    assert health.stats()["a"]["latency"] == pytest.approx(0.004 / 2.718281828)


def test_recent_percentile_waits_for_enough_samples() -> None:
    recent = Recent(size=100, every=1)
    for _ in range(19):
        recent.add(0.001)
    assert recent.percentile(0.95) is None
    recent.add(0.001)
    assert recent.percentile(0.95) == 0.001
    for value in range(100):
        recent.add(value / 1000)
    assert recent.percentile(0.95) == pytest.approx(0.095)


# Retry budget -------------------------------------------------------------


def test_budget_reserve_ratio_and_expiry(clock: Clock) -> None:
    budget = RetryBudget(ratio=0.2, per_second=1, window=10, clock=clock)
    assert budget.balance() == 10  # the reserve: 1 a second over 10 s
    for _ in range(10):
        assert budget.withdraw()
    assert not budget.withdraw()
    for _ in range(50):
        budget.deposit()
    assert budget.balance() == pytest.approx(10)  # 20% of 50 calls
    assert sum(budget.withdraw() for _ in range(20)) == 10
    assert budget.stats() == {"balance": 0.0, "calls": 50, "retries": 20, "refused": 11}
    clock.now += 10.5  # every deposit and withdrawal has expired
    assert budget.balance() == 10


def test_budget_options_are_checked() -> None:
    with pytest.raises(ValueError, match="ratio"):
        RetryBudget(ratio=-1)
    with pytest.raises(TypeError, match="per_second"):
        RetryBudget(per_second="10")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window"):
        RetryBudget(window=0)


def test_an_exhausted_budget_ends_the_call_with_its_last_outcome(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    health = make_health(clock, ["a", "b", "c"])
    budget = RetryBudget(ratio=0, per_second=0, clock=clock)
    call = make_call(health, budget=budget)
    first = begun(call.next())
    call.failed(first, error(httpx.ReadTimeout("slow"), first.host))
    with caplog.at_level(logging.WARNING, "jsonrest"):
        assert call.next() is None
    assert "retry budget is exhausted" in caplog.text
    with pytest.raises(jsonrest.TransportError, match="retry budget is exhausted"):
        call.result()
    # A status: the last response is returned, as with no retries left.
    call = make_call(health, budget=budget)
    first = begun(call.next())
    call.answered(first, response(503, first.host))
    assert call.next() is None
    assert call.result().status == 503
    assert call.budget_stopped


def test_a_failover_after_nothing_was_sent_is_free(clock: Clock) -> None:
    health = make_health(clock, ["a", "b"])
    budget = RetryBudget(ratio=0, per_second=0, clock=clock)
    call = make_call(health, "POST", budget=budget)
    first = begun(call.next())
    call.failed(first, error(httpx.ConnectError("refused"), first.host))
    assert call.next() is not None


def test_a_steady_failing_load_is_amplified_by_the_budget_only(clock: Clock) -> None:
    health = make_health(clock, [f"h{i}" for i in range(4)], max_backoff=1.0)
    budget = RetryBudget(clock=clock)
    sent = 0
    calls = 1000
    for _ in range(calls):  # 100 calls a second for 10 s, every answer a 503
        call = make_call(health, budget=budget, outliers=None)
        while (attempt := call.next()) is not None:
            sent += 1
            call.answered(attempt, response(503, attempt.host))
            call.ended(attempt, None, 0.0)
        clock.now += 0.01
    assert sent / calls <= 1.2 + 100 / calls + 0.01


# Outliers, cap and panic --------------------------------------------------


def make_detector(health: Health, clock: Clock, **kw: Any) -> Detector:
    return Detector(Outliers(**kw), lambda: health.states.values(), clock)


def test_consecutive_gateway_errors_eject_a_host(clock: Clock) -> None:
    health = make_health(clock, ["proxy", "b"])
    detector = make_detector(health, clock, consecutive=3)
    for status in (502, 504, 200, 502, 502):  # a success starts the count over
        call = make_call(health, outliers=detector)
        attempt = call._begin(health.state("proxy"))
        call.answered(attempt, response(status, "proxy"))
        call.ended(attempt, None, 0.0)
    assert health.live("proxy")
    call = make_call(health, outliers=detector)
    attempt = call._begin(health.state("proxy"))
    call.answered(attempt, response(503, "proxy"))
    assert health.down("proxy")
    assert health.state("proxy").probation


def test_retry_after_is_not_a_gateway_error(clock: Clock) -> None:
    health = make_health(clock, ["a", "b"])
    detector = make_detector(health, clock, consecutive=1)
    call = make_call(health, outliers=detector)
    attempt = call._begin(health.state("a"))
    call.answered(attempt, response(503, "a", **{"retry-after": "2"}))
    assert health.rank("a") == 1  # avoided for 2 s, as it asked; not down


def test_a_success_rate_far_below_the_others_ejects(clock: Clock) -> None:
    health = make_health(clock, ["bad", "b", "c"])
    detector = make_detector(
        health, clock, consecutive=None, success_rate=0.5, interval=5, min_requests=10
    )
    for i in range(20):
        for host in ("b", "c"):
            detector.succeeded(health.state(host))
        state = health.state("bad")
        if i % 4:
            detector.failed(state, 500)
        else:
            detector.succeeded(state)
        clock.now += 0.1
    clock.now += 5
    assert detector.failed(health.state("bad"), 500)  # 25% against 100%
    assert not detector.succeeded(health.state("b"))


def test_outliers_options_are_checked() -> None:
    with pytest.raises(ValueError, match="consecutive"):
        Outliers(consecutive=0)
    with pytest.raises(ValueError, match="success_rate"):
        Outliers(success_rate=1.5)
    with pytest.raises(ValueError, match="interval"):
        Outliers(interval=-1)


def test_a_host_on_probation_gets_no_post_and_fails_again_at_once(
    clock: Clock,
) -> None:
    health = make_health(clock, ["proxy", "b"])
    detector = make_detector(health, clock, consecutive=2)
    for _ in range(2):
        call = make_call(health, outliers=detector)
        attempt = call._begin(health.state("proxy"))
        call.answered(attempt, response(502, "proxy"))
        call.ended(attempt, None, 0.0)
    assert health.down("proxy")
    clock.now += 5  # its backoff is over: let back, on probation
    assert health.live("proxy")
    posts = {begun(make_call(health, "POST").next()).host for _ in range(30)}
    assert posts == {"b"}
    gets = {begun(make_call(health, "GET").next()).host for _ in range(30)}
    assert "proxy" in gets
    call = make_call(health, outliers=detector)
    attempt = call._begin(health.state("proxy"))
    call.answered(attempt, response(502, "proxy"))
    assert health.down("proxy")  # one more gateway error: down again
    clock.now += 10
    call = make_call(health, outliers=detector)
    attempt = call._begin(health.state("proxy"))
    call.answered(attempt, response(200, "proxy"))
    assert not health.state("proxy").probation


def test_the_cap_keeps_most_hosts_in_rotation(clock: Clock) -> None:
    health = make_health(clock, ["a", "b", "c", "d"], max_ejected=0.5)
    assert health.failed("a") > 0
    assert health.failed("b") > 0
    assert health.failed("c") == 0  # half are down already: counted, not marked
    assert health.live("c")
    assert health.stats()["c"]["failures"] == 1
    clock.now += 60
    assert health.failed("c") > 0  # the others' backoffs ended: room again


def test_panic_spreads_over_every_host_when_most_are_down(clock: Clock) -> None:
    health = make_health(clock, ["a", "b", "c", "d"], panic=0.5)
    for host in ("a", "b", "c"):
        health.failed(host)
    assert health.rank("a") == LIVE  # 1 of 4 live: below the threshold
    rng = random.Random(2)
    assert {choose(health.hosts, health.priority, health, rng) for _ in range(60)} == {
        "a",
        "b",
        "c",
        "d",
    }
    calm = make_health(clock, ["a", "b", "c", "d"])
    for host in ("a", "b", "c"):
        calm.failed(host)
    assert calm.rank("a") == DOWN


# Hedging ------------------------------------------------------------------


def test_hedge_option() -> None:
    assert hedge_option(None) is None
    assert hedge_option(0.05) == Hedge(delay=0.05)
    assert hedge_option("adaptive") == Hedge()
    with pytest.raises(ValueError, match="hedge"):
        hedge_option("fast")
    with pytest.raises(ValueError, match="hedge"):
        hedge_option(-1)
    with pytest.raises(ValueError, match="percentile"):
        Hedge(percentile=1.0)
    with pytest.raises(ValueError, match="max_hedges"):
        Hedge(max_hedges=0)


def test_a_hedge_is_sent_after_the_delay_to_an_untried_live_host(
    clock: Clock,
) -> None:
    health = make_health(clock, ["a", "b", "c"])
    health.failed("c")
    call = make_call(health, hedge=Hedge(delay=0.05, max_hedges=2))
    assert call.hedging
    first = begun(call.next())
    assert call.hedge() is None  # not yet
    assert call.wait_time() == pytest.approx(0.05)
    clock.now += 0.05
    second = begun(call.hedge())
    assert {first.host, second.host} == {"a", "b"}
    clock.now += 0.05
    assert call.hedge() is None  # only "c" is left, and it is down
    assert call.hedge_in() is None
    call.answered(second, response(200, second.host))
    assert call.decided
    call.answered(first, response(500, first.host))  # late: changes nothing
    assert call.result().status == 200
    assert health.state(first.host).in_flight == 1  # until the twin reports it
    call.abandoned(first, None, 0.1)
    assert health.state(first.host).in_flight == 0


def test_hedges_are_capped_by_retries_max_hedges_and_the_budget(
    clock: Clock,
) -> None:
    health = make_health(clock, ["a", "b", "c", "d"])
    call = make_call(health, retries=0, hedge=Hedge(delay=0.0))
    begun(call.next())
    assert call.hedge() is None  # no retry left for it
    call = make_call(health, hedge=Hedge(delay=0.0, max_hedges=1))
    begun(call.next())
    begun(call.hedge())
    assert call.hedge() is None
    budget = RetryBudget(ratio=0, per_second=0, clock=clock)
    call = make_call(health, hedge=Hedge(delay=0.0), budget=budget)
    begun(call.next())
    assert call.hedge() is None
    assert budget.refused == 1


def test_a_post_is_never_hedged_unless_it_may_be_sent_twice(clock: Clock) -> None:
    health = make_health(clock, ["a", "b"])
    assert not make_call(health, "POST", hedge=Hedge(delay=0.0)).hedging
    assert make_call(health, "POST", hedge=Hedge(delay=0.0), idempotent=True).hedging
    assert not make_call(
        health, "GET", hedge=Hedge(delay=0.0), idempotent=False
    ).hedging


def test_one_attempt_failing_while_another_runs_does_not_end_the_call(
    clock: Clock,
) -> None:
    health = make_health(clock, ["a", "b", "c"])
    call = make_call(health, retries=1, hedge=Hedge(delay=0.0))
    first = begun(call.next())
    second = begun(call.hedge())
    call.failed(first, error(httpx.ReadTimeout("slow"), first.host))
    call.ended(first, None, 0.0)
    assert not call.decided
    call.answered(second, response(200, second.host))
    assert call.result().status == 200


def test_an_adaptive_delay_follows_recent_latency(clock: Clock) -> None:
    health = make_health(clock, ["a", "b"])
    recent = Recent()
    assert not make_call(health, hedge=Hedge(), recent=recent).hedging  # warming up
    for i in range(100):
        recent.add(0.001 * (i + 1))
    call = make_call(health, hedge=Hedge(percentile=0.9), recent=recent)
    begun(call.next())
    assert call.hedge_in() == pytest.approx(0.091)


# Quorum -------------------------------------------------------------------


def make_broadcast(health: Health, quorum: int) -> Broadcast:
    return Broadcast(
        prepare("GET", "/x"),
        list(health.hosts),
        health=health,
        timeout=5.0,
        deadline=None,
        quorum=quorum,
    )


def test_a_quorum_is_the_first_k_2xx_answers_in_arrival_order(clock: Clock) -> None:
    health = make_health(clock, ["a", "b", "c", "d", "e"])
    plan = make_broadcast(health, 2)
    attempts = {host: begun(plan.start(host)) for host in health.hosts}
    plan.answered(attempts["c"], response(200, "c"))
    plan.answered(attempts["a"], response(404, "a"))  # not a 2xx: does not count
    assert not plan.decided
    plan.answered(attempts["e"], response(201, "e"))
    assert plan.decided
    assert [r.host for r in plan.result()] == ["c", "e"]


def test_a_quorum_out_of_reach_raises_at_once(clock: Clock) -> None:
    health = make_health(clock, ["a", "b", "c"])
    plan = make_broadcast(health, 2)
    attempts = {host: begun(plan.start(host)) for host in health.hosts}
    plan.failed(attempts["a"], error(httpx.ConnectError("refused"), "a"))
    assert not plan.decided
    plan.answered(attempts["b"], response(500, "b"))
    assert plan.decided  # only "c" is left: 2 can no longer be reached
    with pytest.raises(jsonrest.BroadcastError, match="quorum of 2") as caught:
        plan.result()
    assert {e.host for e in caught.value.exceptions} == {"a", "b"}
    assert set(caught.value.responses) == {"b"}


def test_a_quorum_beyond_the_hosts_is_out_of_reach_and_sends_nothing(
    clock: Clock,
) -> None:
    health = make_health(clock, ["a", "b"])
    plan = make_broadcast(health, 3)  # the members may have shrunk meanwhile
    assert plan.decided
    assert [plan.start(host) for host in health.hosts] == [None, None]
    assert all(state.in_flight == 0 for state in health.states.values())
    with pytest.raises(jsonrest.BroadcastError, match="has 2 hosts") as caught:
        plan.result()
    (reason,) = caught.value.exceptions
    assert isinstance(reason, jsonrest.NoHostAvailable)


@pytest.mark.parametrize("quorum", [0, -1])
def test_a_quorum_is_at_least_one(clock: Clock, quorum: int) -> None:
    health = make_health(clock, ["a", "b"])
    with pytest.raises(ValueError, match="quorum must be an int >= 1"):
        make_broadcast(health, quorum)


def test_a_refused_connection_costs_no_retry(clock: Clock) -> None:
    health = make_health(clock, ["a", "b", "c"], max_ejected=0.5)
    call = make_call(health, "POST", retries=0)
    first = begun(call.next())
    call.failed(first, error(httpx.ConnectError("refused"), first.host))
    call.ended(first, None, 0.0)
    second = begun(call.next())  # no retry was spent: nothing reached a host
    call.failed(second, error(httpx.ConnectTimeout("no answer"), second.host))
    call.ended(second, None, 0.0)
    assert call.next() is None  # a connect timeout cost time: it counts
