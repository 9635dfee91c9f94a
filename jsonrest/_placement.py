"""Where keys live: the key -> hosts mapping of a Shards, and the choices a cover
may make for a set of keys."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Any

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
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def choices(
        self,
        keys: Iterable[Hashable],
        weight: Callable[[str], Any],
        live: Callable[[str], bool],
    ) -> tuple[list[frozenset[str]], dict[str, Any]]:
        """The hosts a cover may use for each key, and the weight of each host.

        A host whose `weight` is None is never used. A host that is not `live`
        (down or avoided) is offered only for keys that no live host holds.
        Raises `KeyError` for an unknown key and `NoHostAvailable` for a key
        none of whose hosts may be used.
        """
        weights: dict[str, Any] = {}
        cache: dict[frozenset[str], frozenset[str]] = {}
        choices = []
        for key in dict.fromkeys(keys):
            hosts = self[key]
            usable = cache.get(hosts)
            if usable is None:
                for host in hosts:
                    if host not in weights:
                        weights[host] = weight(host)
                allowed = [host for host in hosts if weights[host] is not None]
                live_ones = frozenset(host for host in allowed if live(host))
                usable = cache[hosts] = live_ones or frozenset(allowed)
            if not usable:
                raise NoHostAvailable(f"no usable host holds key {key!r}")
            choices.append(usable)
        used = {host for usable in cache.values() for host in usable}
        return choices, {host: weights[host] for host in used}
