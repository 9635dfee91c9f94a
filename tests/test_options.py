"""Option checking and lane sizing: pure functions, no sockets."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

import httpx
import pytest

from jsonrest._options import (
    DEFAULT_MAX_BODY,
    DEFAULT_TIMEOUT,
    LANE,
    MAX_CONNECTIONS,
    MAX_SECONDS,
    ClusterOptions,
    Options,
    cluster_options,
    lane_sizes,
    resource_options,
)

INF = float("inf")
NAN = float("nan")


@pytest.mark.parametrize(
    ("limit", "lanes"),
    [
        (0, (0,)),
        (1, (1,)),
        (2, (2,)),
        (5, (2, 2, 1)),
        (10, (2, 2, 2, 2, 2)),
        (20, (2,) * 10),
    ],
)
def test_lane_sizes_split_the_limit(limit: int, lanes: tuple[int, ...]) -> None:
    assert lane_sizes(limit) == lanes


def test_lanes_keep_alive_exactly_the_limit() -> None:
    for limit in range(200):
        sizes = lane_sizes(limit)
        assert sum(sizes) == limit
        assert all(size <= LANE for size in sizes)
        assert max(sizes) - min(sizes) <= 1
        assert len(sizes) == max(1, -(-limit // LANE))


def test_options_carry_the_lanes_of_limit() -> None:
    assert resource_options({}).lanes == lane_sizes(20)
    assert resource_options({"limit": 6}).lanes == (2, 2, 2)
    assert len(resource_options({"limit": MAX_CONNECTIONS}).lanes) == 32768


# Resource options ---------------------------------------------------------


def test_the_defaults() -> None:
    options = resource_options({})
    assert options.timeout == DEFAULT_TIMEOUT
    assert options.pool_timeout == DEFAULT_TIMEOUT
    assert options.max_body == DEFAULT_MAX_BODY
    assert options.max_in_flight is None
    assert dict(options.client).keys() == {"timeout", "limits"}
    assert options.client["timeout"] == DEFAULT_TIMEOUT
    limits = options.client["limits"]
    assert limits.max_connections is None
    assert limits.max_keepalive_connections == 20


def test_options_are_frozen_and_read_only() -> None:
    given = {"headers": {"x-a": "1"}, "follow_redirects": True}
    options = resource_options(given)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.timeout = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        options.client["timeout"] = 1.0  # type: ignore[index]
    assert not hasattr(options, "__dict__")  # slots
    assert given == {"headers": {"x-a": "1"}, "follow_redirects": True}
    assert options.client["follow_redirects"] is True
    # The client keywords still spread into an httpx client.
    httpx.Client(**options.client).close()


def test_timeouts_given_every_way() -> None:
    assert resource_options({"timeout": 2}).timeout == 2.0
    assert isinstance(resource_options({"timeout": 2}).timeout, float)
    assert resource_options({"timeout": Fraction(1, 2)}).timeout == 0.5
    assert resource_options({"timeout": MAX_SECONDS}).timeout == MAX_SECONDS
    unbounded = resource_options({"timeout": None})
    assert (unbounded.timeout, unbounded.pool_timeout) == (None, None)
    parts = httpx.Timeout(5, pool=1.5)
    options = resource_options({"timeout": parts})
    assert options.timeout is parts
    assert options.client["timeout"] is parts
    assert options.pool_timeout == 1.5
    assert resource_options({"timeout": httpx.Timeout(None)}).pool_timeout is None


def test_counts_may_be_none_or_at_their_least() -> None:
    options = resource_options({"max_body": None, "max_in_flight": 1, "limit": 0})
    assert (options.max_body, options.max_in_flight, options.lanes) == (None, 1, (0,))
    assert resource_options({"max_body": 0}).max_body == 0


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        # Out of range: ValueError.
        ({"limit": -1}, ValueError, "limit"),
        ({"limit": MAX_CONNECTIONS + 1}, ValueError, "limit"),
        ({"max_body": -1}, ValueError, "max_body"),
        ({"max_in_flight": 0}, ValueError, "max_in_flight"),
        ({"max_in_flight": -3}, ValueError, "max_in_flight"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": -1.5}, ValueError, "timeout"),
        ({"timeout": INF}, ValueError, "timeout .*inf"),
        ({"timeout": -INF}, ValueError, "timeout"),
        ({"timeout": NAN}, ValueError, "timeout .*nan"),
        ({"timeout": 1e300}, ValueError, "timeout .*1e\\+300"),
        ({"timeout": 10**400}, ValueError, "timeout"),
        ({"timeout": MAX_SECONDS + 1}, ValueError, "timeout"),
        ({"timeout": httpx.Timeout(5, read=INF)}, ValueError, "timeout.read .*inf"),
        ({"timeout": httpx.Timeout(5, connect=0)}, ValueError, "timeout.connect"),
        ({"timeout": httpx.Timeout(5, pool=NAN)}, ValueError, "timeout.pool"),
        ({"timeout": httpx.Timeout(1e300)}, ValueError, "timeout.connect"),
        # The wrong type: TypeError.
        ({"limit": True}, TypeError, "limit"),
        ({"limit": 2.0}, TypeError, "limit"),
        ({"limit": "4"}, TypeError, "limit"),
        ({"max_body": True}, TypeError, "max_body"),
        ({"max_body": 1e6}, TypeError, "max_body"),
        ({"max_in_flight": "x"}, TypeError, "max_in_flight"),
        ({"timeout": "5"}, TypeError, "timeout .*'5'"),
        ({"timeout": True}, TypeError, "timeout"),
        ({"timeout": [5]}, TypeError, "timeout"),
        ({"timeout": httpx.Timeout(5, write="x")}, TypeError, "timeout.write .*'x'"),
        ({"base_url": "http://elsewhere"}, TypeError, "base_url"),
        ({"no_such_option": 1}, TypeError, "no_such_option"),
        ({"retries": 1}, TypeError, "retries"),  # a cluster's, not a Resource's
    ],
)
def test_bad_options_name_the_problem(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        resource_options(options)


def test_bad_default_headers_fail_at_once() -> None:
    with pytest.raises(ValueError, match="header"):
        resource_options({"headers": {"x-a": "one\r\ntwo"}})


def test_a_huge_value_is_named_but_not_printed_whole() -> None:
    with pytest.raises(ValueError, match="timeout") as caught:
        resource_options({"timeout": 10**5000})  # repr() of it would raise
    assert len(str(caught.value)) < 200
    with pytest.raises(TypeError, match="timeout") as caught:
        resource_options({"timeout": "x" * 10_000})
    assert len(str(caught.value)) < 200


# Cluster options ------------------------------------------------------------


def test_cluster_defaults() -> None:
    assert cluster_options() == ClusterOptions(
        retries=2,
        deadline=None,
        backoff=1.0,
        max_backoff=30.0,
        max_retry_after=60.0,
        max_workers=64,
    )


def test_cluster_options_at_their_bounds() -> None:
    options = cluster_options(
        retries=0,
        deadline=MAX_SECONDS,
        backoff=2,
        max_backoff=2,
        max_retry_after=0,
        max_workers=1,
    )
    assert options.deadline == MAX_SECONDS
    assert (options.backoff, options.max_backoff) == (2.0, 2.0)
    assert isinstance(options.backoff, float)
    assert options.max_retry_after == 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.retries = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"max_workers": 0}, ValueError, "max_workers .*0"),
        ({"max_workers": -1}, ValueError, "max_workers .*-1"),
        ({"max_workers": "x"}, TypeError, "max_workers .*'x'"),
        ({"max_workers": True}, TypeError, "max_workers .*True"),
        ({"max_workers": 8.0}, TypeError, "max_workers"),
        ({"retries": -1}, ValueError, "retries"),
        ({"retries": "2"}, TypeError, "retries"),
        ({"retries": False}, TypeError, "retries"),
        ({"deadline": 0}, ValueError, "deadline"),
        ({"deadline": -1}, ValueError, "deadline"),
        ({"deadline": INF}, ValueError, "deadline .*inf"),
        ({"deadline": NAN}, ValueError, "deadline .*nan"),
        ({"deadline": 1e300}, ValueError, "deadline"),
        ({"deadline": "10"}, TypeError, "deadline"),
        ({"backoff": 0}, ValueError, "backoff"),
        ({"backoff": INF, "max_backoff": INF}, ValueError, "backoff .*inf"),
        ({"backoff": "1"}, TypeError, "backoff"),
        ({"max_backoff": 0.5}, ValueError, "max_backoff .*backoff"),
        ({"max_backoff": NAN}, ValueError, "max_backoff .*nan"),
        ({"max_backoff": INF}, ValueError, "max_backoff .*inf"),
        ({"max_retry_after": -1}, ValueError, "max_retry_after"),
        ({"max_retry_after": INF}, ValueError, "max_retry_after .*inf"),
        ({"max_retry_after": NAN}, ValueError, "max_retry_after"),
        ({"max_retry_after": None}, TypeError, "max_retry_after"),
    ],
)
def test_bad_cluster_options_name_the_problem(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        cluster_options(**options)


def test_the_first_bad_option_in_signature_order_is_named() -> None:
    with pytest.raises(TypeError, match="retries"):
        cluster_options(retries="x", max_workers="y")  # type: ignore[arg-type]


def test_the_fields_users_read() -> None:
    assert [f.name for f in dataclasses.fields(Options)] == [
        "timeout",
        "max_body",
        "max_in_flight",
        "pool_timeout",
        "lanes",
        "client",
    ]
    assert [f.name for f in dataclasses.fields(ClusterOptions)] == [
        "retries",
        "deadline",
        "backoff",
        "max_backoff",
        "max_retry_after",
        "max_workers",
    ]
