"""Where keys live: the key -> hosts mapping of a Shards, the choices a cover
may make for a set of keys, and the cover itself."""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping
from typing import Any

from ._cover import minimal_cover
from ._exceptions import NoHostAvailable

__all__ = ["Placement"]


class Placement(Mapping[Hashable, frozenset[str]]):
    """An immutable mapping of keys to the frozenset of hosts that hold them.

    Built from `(host, key)` pairs and/or a `{host: keys}` multimap; `hosts`
    lists every host in order of first appearance.
    """

    def __init__(
        self,
        items: Iterable[tuple[str, Hashable]] = (),
        multimap: Mapping[str, Iterable[Hashable]] | None = None,
    ) -> None:
        if isinstance(items, (str, bytes)):
            raise TypeError("items must be (host, key) pairs")
        keys: dict[Hashable, dict[str, None]] = {}
        hosts: dict[str, None] = {}

        def place(host: str, key: Hashable) -> None:
            if not isinstance(host, str):
                raise TypeError(f"host must be a str, not {type(host).__name__}")
            hash(key)  # an unhashable key fails here, naming its type
            hosts.setdefault(host)
            keys.setdefault(key, {}).setdefault(host)

        for pair in items:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise TypeError(f"items must be (host, key) pairs, not {pair!r}")
            if _swapped(*pair):
                raise ValueError(
                    f"items are (host, key) pairs, and {pair!r} looks swapped: "
                    f"did you mean {(pair[1], pair[0])!r}?"
                )
            place(*pair)
        for host, host_keys in (multimap or {}).items():
            if isinstance(host_keys, (str, bytes)):
                raise TypeError(f"multimap values must be iterables of keys: {host!r}")
            hosts.setdefault(host)
            for key in host_keys:
                place(host, key)
        self._keys = {key: frozenset(found) for key, found in keys.items()}
        self.hosts: tuple[str, ...] = tuple(hosts)

    def __getitem__(self, key: Hashable) -> frozenset[str]:
        try:
            return self._keys[key]
        except KeyError:
            raise KeyError(f"no host holds key {key!r}") from None

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def choices(
        self,
        keys: Iterable[Hashable],
        weight: Callable[[str], Any],
        live: Callable[[str], bool],
        exclude: Collection[str] = (),
    ) -> tuple[list[frozenset[str]], dict[str, Any]]:
        """The hosts a cover may use for each key, and the weight of each host.

        A host whose `weight` is None, or that is in `exclude`, is never used. A
        host that is not `live` (down or avoided) is offered only for keys that
        no usable live host holds. Raises `KeyError` for an unknown key and
        `NoHostAvailable` for a key none of whose hosts may be used.
        """
        keys = list(dict.fromkeys(keys))
        sets = [self[key] for key in keys]
        unique = set(sets)
        named = frozenset().union(*unique)
        excluded = named.intersection(exclude)
        # Excluded hosts are not weighed: nothing would use their weight, and
        # the hook may be a user's costly override.
        weights = {host: weight(host) for host in named - excluded}
        removed = {host for host, value in weights.items() if value is None}
        removed |= excluded
        down = {host for host in weights if host not in removed and not live(host)}
        if not removed and not down:  # the common case: every host may serve
            return sets, weights
        usable: dict[frozenset[str], frozenset[str]] = {}
        for hosts in unique:
            allowed = hosts - removed
            usable[hosts] = (allowed - down) or allowed
        choices = []
        for key, hosts in zip(keys, sets, strict=True):
            if not usable[hosts]:
                raise NoHostAvailable(f"no usable host holds key {key!r}")
            choices.append(usable[hosts])
        used = frozenset().union(*usable.values())
        return choices, {host: weights[host] for host in used}

    def cover(
        self,
        keys: Iterable[Hashable],
        weight: Callable[[str], Any],
        live: Callable[[str], bool],
        *,
        exclude: Collection[str] = (),
        rng: random.Random | None = None,
    ) -> frozenset[str]:
        """The fewest usable hosts that together hold every key in `keys`.

        The hosts are those `choices` offers; among covers of the fewest hosts
        the best by `weight` (see `minimal_cover`), then at random by `rng`.
        Raises as `choices` does.
        """
        choices, weights = self.choices(keys, weight, live, exclude)
        return minimal_cover(choices, weights, rng=rng)


def _swapped(host: object, key: object) -> bool:
    """Whether a pair reads as (key, host): a key with a port or a scheme
    beside a host with neither ("users", "db-1:5984")."""
    if not (isinstance(host, str) and isinstance(key, str)):
        return False

    def addressed(text: str) -> bool:
        if "://" in text:
            return True
        name, colon, port = text.rpartition(":")
        return bool(colon and name and port.isdigit() and port.isascii())

    return addressed(key) and not addressed(host)
