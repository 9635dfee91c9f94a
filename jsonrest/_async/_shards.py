"""`AsyncShards`: keys placed on hosts; unicast, broadcast and multicast by key."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

from .._cover import combine, minimal_cover
from .._exceptions import NoHostAvailable
from .._placement import Placement
from .._response import Response
from ._resources import AsyncResources

__all__ = ["AsyncShards"]


class AsyncShards(Mapping[Hashable, frozenset[str]]):
    """A mapping of keys to the frozenset of hosts that hold them.

    `items` are `(host, key)` pairs and `multimap` maps a host to its keys;
    both may be given. `resources` is the `AsyncResources` over every host
    (options go to it), so health and load are shared by every call.
    """

    def __init__(
        self,
        items: Iterable[tuple[str, Hashable]] = (),
        *,
        multimap: Mapping[str, Iterable[Hashable]] | None = None,
        **options: Any,
    ) -> None:
        self.placement = Placement(items, multimap)
        self.resources = AsyncResources(self.placement.hosts, **options)

    def __getitem__(self, key: Hashable) -> frozenset[str]:
        return self.placement[key]

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self.placement)

    def __len__(self) -> int:
        return len(self.placement)

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"<{name} of {len(self)} keys on {len(self.resources)} hosts>"

    def priority(self, hosts: Collection[str]) -> Any:
        """The combined priority of a set of hosts, lower is better.

        It is the members' `resources.priority` values sorted worst first, as a
        tuple, so a set whose worst member is better wins; None if any member
        is removed (its priority is None). The cover compares covers of equal
        size by it; an override is honoured.
        """
        values = [self.resources.priority(host) for host in hosts]
        if any(value is None for value in values):
            return None
        return combine(values)

    def cover(self, keys: Iterable[Hashable]) -> frozenset[str]:
        """The fewest hosts that together hold every key in `keys`.

        Never a removed host (priority None); a host that is down only for
        keys no live host holds; among equal covers the best `priority`, then
        at random. Raises `KeyError` for an unknown key, `NoHostAvailable` for
        a key none of whose hosts may be used.
        """
        resources = self.resources
        if type(self).priority is AsyncShards.priority:
            weight = resources.priority
        else:
            weight = self._weight
        choices, weights = self.placement.choices(keys, weight, resources.health.live)
        hosts = minimal_cover(choices, weights, rng=resources.rng)
        if self.priority(hosts) is None:
            raise NoHostAvailable(f"priority() removes the cover {sorted(hosts)}")
        return hosts

    def _weight(self, host: str) -> Any:
        return self.priority((host,))

    def _ordered(self, hosts: Collection[str]) -> list[str]:
        return [host for host in self.resources if host in hosts]

    async def unicast(
        self, key: Hashable, method: str, path: str, body: Any = None, **kw: Any
    ) -> Response:
        """Send to one host that holds `key`, with the resources' failover."""
        return await self.resources.unicast(
            method, path, body, hosts=self._ordered(self[key]), **kw
        )

    async def broadcast(
        self, key: Hashable, method: str, path: str, body: Any = None, **kw: Any
    ) -> list[Response]:
        """Send to every host that holds `key`; as `AsyncResources.broadcast`."""
        return await self.resources.broadcast(
            method, path, body, hosts=self._ordered(self[key]), **kw
        )

    async def multicast(
        self,
        keys: Iterable[Hashable],
        method: str,
        path: str,
        body: Any = None,
        **kw: Any,
    ) -> list[Response]:
        """Send to the hosts of `cover(keys)` at once: one response per host.

        The same rules as `AsyncResources.broadcast`: statuses are returned,
        transport failures raise `BroadcastError` keeping every response.
        """
        hosts = self._ordered(self.cover(keys))
        if not hosts:  # no keys: nothing to send (an empty subset means "all")
            return []
        return await self.resources.broadcast(method, path, body, hosts=hosts, **kw)

    async def aclose(self) -> None:
        """Close every pool and worker."""
        await self.resources.aclose()

    async def __aenter__(self) -> AsyncShards:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
