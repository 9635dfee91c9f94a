"""The plan of a multicast, without sockets: rounds, orphaned keys, stopping."""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jsonrest
from jsonrest._deadline import Deadline
from jsonrest._exceptions import Error
from jsonrest._faults import as_error
from jsonrest._multicast import Multicast
from jsonrest._placement import Placement
from jsonrest._response import Response


def failure(host: str, exc: httpx.HTTPError) -> Error:
    """The error a broadcast raises for `host`, chained as the twins chain it."""
    error = as_error(exc, host)
    error.__cause__ = exc
    return error


def refused(host: str) -> Error:
    return failure(host, httpx.ConnectError("connection refused"))


def timed_out(host: str) -> Error:
    return failure(host, httpx.ReadTimeout("timed out"))


def dropped(host: str) -> Error:
    return failure(host, httpx.RemoteProtocolError("server disconnected"))


def plan(
    multimap: Mapping[str, list[Hashable]],
    keys: list[Hashable],
    *,
    weights: Mapping[str, Any] | None = None,
    down: frozenset[str] = frozenset(),
    **options: Any,
) -> Multicast:
    """A plan over `multimap`: every host weighs 0 unless `weights` says, and
    `retries` is 2 unless `options` say."""
    weight = dict.fromkeys(multimap, 0) | dict(weights or {})
    options.setdefault("retries", 2)
    return Multicast(
        Placement(multimap=multimap),
        keys,
        weight=weight.__getitem__,
        live=lambda host: host not in down,
        rng=random.Random(0),
        **options,
    )


def run(
    multicast: Multicast, fail: Mapping[str, Callable[[str], Error]]
) -> list[list[str]]:
    """Play every round: hosts in `fail` fail that way, the others answer 200.

    Returns the hosts of each round.
    """
    rounds = []
    while hosts := multicast.next_hosts():
        rounds.append(hosts)
        responses = {h: Response(200, host=h) for h in hosts if h not in fail}
        multicast.report(responses, [fail[h](h) for h in hosts if h in fail])
    return rounds


def keys_of(responses: list[Response]) -> dict[str, frozenset[Hashable] | None]:
    return {response.host: response.keys for response in responses}


def test_one_round_when_every_host_answers() -> None:
    multicast = plan(
        {"A": [1, 2], "B": [2, 3], "C": [3]}, [1, 2, 3, 2], weights={"C": 1}
    )
    assert run(multicast, {}) == [["A", "B"]]
    # Key 2 is held by both: it goes to the first answering host only.
    assert keys_of(multicast.result()) == {"A": {1, 2}, "B": {3}}
    assert multicast.next_hosts() == []


def test_only_keys_no_answer_stands_for_are_covered_again() -> None:
    placement = {"A": [1, 2], "B": [2, 3], "C": [2, 3]}
    multicast = plan(placement, [1, 2, 3], weights={"C": 1})
    # B's key 2 is answered by A: only key 3 goes to C.
    assert run(multicast, {"B": refused}) == [["A", "B"], ["C"]]
    assert keys_of(multicast.result()) == {"A": {1, 2}, "C": {3}}
    assert [e.host for e in multicast.errors] == ["B"]


def test_the_next_cover_is_minimal_among_hosts_not_yet_tried() -> None:
    placement = {"A": [1, 2, 3, 4], "B": [1, 2], "C": [3, 4], "D": [1], "E": [2]}
    multicast = plan(placement, [1, 2, 3, 4])
    assert run(multicast, {"A": refused}) == [["A"], ["B", "C"]]
    assert keys_of(multicast.result()) == {"B": {1, 2}, "C": {3, 4}}


@pytest.mark.parametrize(
    ("fault", "idempotent", "covered_again"),
    [
        (refused, False, True),
        (refused, True, True),
        (timed_out, False, False),
        (timed_out, True, True),
        (dropped, False, False),
        (dropped, True, True),
    ],
)
def test_resent_only_when_may_resend_allows(
    fault: Callable[[str], Error], idempotent: bool, covered_again: bool
) -> None:
    multicast = plan({"A": [1, 2], "B": [1], "C": [2]}, [1, 2], idempotent=idempotent)
    rounds = run(multicast, {"A": fault})
    if covered_again:
        assert rounds == [["A"], ["B", "C"]]
        assert keys_of(multicast.result()) == {"B": {1}, "C": {2}}
    else:
        assert rounds == [["A"]]
        with pytest.raises(jsonrest.BroadcastError, match="not sent again") as info:
            multicast.result()
        assert [e.host for e in info.value.exceptions] == ["A"]
        assert info.value.responses == {}


def test_a_key_that_may_have_arrived_stops_the_call() -> None:
    # B was refused, but A may have handled keys 1 and 2: nothing is resent.
    placement = {"A": [1, 2], "B": [2, 3], "C": [1], "D": [3]}
    multicast = plan(placement, [1, 2, 3], weights={"C": 1, "D": 1})
    assert run(multicast, {"A": timed_out, "B": refused}) == [["A", "B"]]
    with pytest.raises(jsonrest.BroadcastError) as info:
        multicast.result()
    assert sorted(e.host for e in info.value.exceptions) == ["A", "B"]


def test_a_local_failure_is_never_resent() -> None:
    def local(host: str) -> Error:
        return jsonrest.DecodeError("bad gzip", host=host, status=200)

    multicast = plan({"A": [1], "B": [1]}, [1], weights={"B": 1}, idempotent=True)
    assert run(multicast, {"A": local}) == [["A"]]
    with pytest.raises(jsonrest.BroadcastError):
        multicast.result()


def test_retries_bound_the_rounds() -> None:
    placement = {host: [1] for host in "ABCDE"}
    multicast = plan(placement, [1], retries=2)
    rounds = run(multicast, dict.fromkeys("ABCDE", refused))
    assert len(rounds) == 3
    assert len({host for hosts in rounds for host in hosts}) == 3
    with pytest.raises(jsonrest.BroadcastError, match="2 retries used") as info:
        multicast.result()
    assert len(info.value.exceptions) == 3
    no_retry = plan(placement, [1], retries=0)
    assert len(run(no_retry, dict.fromkeys("ABCDE", refused))) == 1


def test_stops_when_no_untried_host_holds_a_key() -> None:
    multicast = plan({"A": [1, 2], "B": [1], "C": [2]}, [1, 2], retries=5)
    assert run(multicast, dict.fromkeys("AB", refused)) == [["A"], ["B", "C"]]
    assert multicast.stopped is not None
    assert "no untried host" in multicast.stopped
    with pytest.raises(jsonrest.BroadcastError) as info:
        multicast.result()
    # Every error and every response that arrived, with the keys it stands for.
    assert [e.host for e in info.value.exceptions] == ["A", "B"]
    assert keys_of(list(info.value.responses.values())) == {"C": {2}}
    assert "[1]" in str(info.value)


def test_one_deadline_for_every_round() -> None:
    now = [0.0]
    deadline = Deadline(1.0, clock=lambda: now[0])
    multicast = plan({"A": [1], "B": [1]}, [1], deadline=deadline, retries=2)
    assert len(multicast.next_hosts()) == 1
    assert multicast.remaining() == 1.0
    now[0] = 0.25
    assert multicast.remaining() == 0.75
    now[0] = 1.0
    assert multicast.remaining() == 0.001  # never 0, which a broadcast refuses
    multicast.report({}, [refused(multicast.tried[0])])
    assert multicast.next_hosts() == []
    with pytest.raises(jsonrest.BroadcastError, match=r"deadline of 1\.0 s"):
        multicast.result()
    assert plan({"A": [1]}, [1]).remaining() is None


def test_the_first_round_raises_before_any_traffic() -> None:
    with pytest.raises(KeyError, match="nope"):
        plan({"A": [1]}, [1, "nope"])
    multicast = plan({"A": [1], "B": [2]}, [1, 2], weights={"B": None})
    with pytest.raises(jsonrest.NoHostAvailable, match="key 2"):
        multicast.next_hosts()


def test_removed_and_down_hosts_in_later_rounds() -> None:
    placement = {"A": [1], "B": [1], "C": [1], "R": [1]}
    multicast = plan(
        placement, [1], weights={"C": 1, "R": None}, down=frozenset("B"), retries=5
    )
    # Live hosts first, a down one only when no live untried host is left, a
    # removed one never.
    rounds = run(multicast, dict.fromkeys("ABC", refused))
    assert rounds == [["A"], ["C"], ["B"]]


def test_a_status_is_an_answer() -> None:
    multicast = plan({"A": [1, 2], "B": [1, 2]}, [1, 2], weights={"B": 1})
    assert multicast.next_hosts() == ["A"]
    multicast.report({"A": Response(503, host="A")}, [])
    assert multicast.next_hosts() == []
    assert [(r.status, r.keys) for r in multicast.result()] == [(503, {1, 2})]


def test_no_keys_no_rounds() -> None:
    multicast = plan({"A": [1]}, [])
    assert multicast.next_hosts() == []
    assert multicast.result() == []


def test_a_host_without_any_outcome_is_not_assumed_unreached() -> None:
    multicast = plan({"A": [1], "B": [1]}, [1], retries=2, idempotent=True)
    assert len(multicast.next_hosts()) == 1
    multicast.report({}, [])
    assert multicast.next_hosts() == []
    with pytest.raises(jsonrest.NoHostAvailable, match="no response for keys"):
        multicast.result()


HOSTS = [f"h{i}" for i in range(8)]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.dictionaries(
        st.integers(0, 9), st.frozensets(st.sampled_from(HOSTS), min_size=1), min_size=1
    ),
    st.dictionaries(st.sampled_from(HOSTS), st.sampled_from([refused, timed_out])),
    st.booleans(),
    st.integers(0, 3),
)
def test_invariants(
    placed: dict[int, frozenset[str]],
    fail: dict[str, Callable[[str], Error]],
    idempotent: bool,
    retries: int,
) -> None:
    multimap: dict[str, list[Hashable]] = {host: [] for host in HOSTS}
    for key, hosts in placed.items():
        for host in hosts:
            multimap[host].append(key)
    keys = list(placed)
    multicast = plan(multimap, keys, idempotent=idempotent, retries=retries)
    rounds = run(multicast, fail)
    sent = [host for hosts in rounds for host in hosts]
    assert len(sent) == len(set(sent)), "a host was sent to twice"
    assert 1 <= len(rounds) <= 1 + retries
    if multicast.orphaned():
        with pytest.raises(jsonrest.BroadcastError) as info:
            multicast.result()
        responses = list(info.value.responses.values())
        assert {e.host for e in info.value.exceptions} == set(sent) & set(fail)
    else:
        responses = multicast.result()
    # Each key in at most one response (exactly one on success), by a holder.
    assert {r.host for r in responses} == set(sent) - set(fail)
    found = [key for r in responses for key in r.keys or ()]
    assert len(found) == len(set(found))
    assert set(found) | set(multicast.orphaned()) == set(keys)
    assert all(r.host in placed[key] for r in responses for key in r.keys or ())
