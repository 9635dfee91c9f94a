"""Option checking and lane sizing: pure functions, no sockets."""

from __future__ import annotations

import pytest

from jsonrest._options import LANE, client_options, lane_sizes


@pytest.mark.parametrize(
    ("limit", "lanes"),
    [
        (0, (0,)),
        (1, (1,)),
        (4, (4,)),
        (5, (3, 2)),
        (10, (4, 3, 3)),
        (20, (4, 4, 4, 4, 4)),
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
    assert client_options({}).lanes == lane_sizes(20)
    assert client_options({"limit": 6}).lanes == (3, 3)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"limit": -1}, ValueError, "limit"),
        ({"limit": True}, ValueError, "limit"),
        ({"max_body": -1}, ValueError, "max_body"),
        ({"max_in_flight": 0}, ValueError, "max_in_flight"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"base_url": "http://elsewhere"}, TypeError, "base_url"),
        ({"no_such_option": 1}, TypeError, "no_such_option"),
    ],
)
def test_bad_options_name_the_problem(
    options: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        client_options(options)
