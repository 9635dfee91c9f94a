"""Placement: the key -> hosts mapping and the choices a cover may make."""

from __future__ import annotations

import pytest

import jsonrest
from jsonrest._placement import Placement


def test_items_and_multimap_merge_in_order() -> None:
    placement = Placement([("a", 1), ("b", 1)], {"c": [1, 2], "d": []})
    assert placement.hosts == ("a", "b", "c", "d")
    assert placement[1] == {"a", "b", "c"}
    assert placement[2] == {"c"}
    assert list(placement) == [1, 2]


def test_unknown_key() -> None:
    with pytest.raises(KeyError, match="'zz'"):
        Placement([("a", 1)])["zz"]


@pytest.mark.parametrize(
    "items", ["ab", [("a",)], [("a", 1, 2)], [(1, "k")], [("a", [1])], [["a", 1]]]
)
def test_bad_items(items: object) -> None:
    with pytest.raises(TypeError):
        Placement(items)  # type: ignore[arg-type]


def test_choices_prefer_live_hosts_and_drop_removed_ones() -> None:
    placement = Placement(
        multimap={"a": [1, 2], "b": [1], "down": [2, 3], "gone": [1, 4]}
    )
    weight = {"a": 1, "b": 0, "down": 5, "gone": None}.__getitem__
    choices, weights = placement.choices([1, 2, 3, 1], weight, lambda h: h != "down")
    assert choices == [{"a", "b"}, {"a"}, {"down"}]
    assert weights == {"a": 1, "b": 0, "down": 5}
    with pytest.raises(jsonrest.NoHostAvailable, match="key 4"):
        placement.choices([1, 4], weight, lambda h: True)
    with pytest.raises(KeyError):
        placement.choices([5], weight, lambda h: True)


def test_excluded_hosts_are_never_weighed_nor_used() -> None:
    placement = Placement(multimap={"a": [1, 2], "b": [1], "c": [2], "d": [3]})
    weighed: list[str] = []

    def weight(host: str) -> int:
        weighed.append(host)
        return 0

    def live(host: str) -> bool:
        return True

    choices, weights = placement.choices([1, 2], weight, live, exclude={"a", "zz"})
    assert choices == [{"b"}, {"c"}]
    assert weights == {"b": 0, "c": 0}
    assert sorted(weighed) == ["b", "c"]
    with pytest.raises(jsonrest.NoHostAvailable, match="key 3"):
        placement.choices([3], weight, live, exclude=["d"])


def test_cover() -> None:
    placement = Placement(multimap={"a": [1, 2], "b": [1], "c": [2]})
    weight = {"a": 1, "b": 0, "c": 0}.__getitem__
    # Fewest hosts first, whatever their weight; then exclusions and liveness.
    assert placement.cover([1, 2], weight, lambda h: True) == {"a"}
    assert placement.cover([1, 2], weight, lambda h: True, exclude=["a"]) == {"b", "c"}
    assert placement.cover([1], weight, lambda h: h != "a") == {"b"}
    assert placement.cover([1], weight, lambda h: False, exclude=["b"]) == {"a"}
    assert placement.cover([], weight, lambda h: True) == frozenset()
