"""`AsyncShards`: keys placed on hosts; unicast, broadcast and multicast by key."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

from .._deadline import Deadline
from .._exceptions import BroadcastError
from .._multicast import Multicast
from .._placement import Placement
from .._request import IDEMPOTENT
from .._response import Response
from ._resources import AsyncResources

__all__ = ["AsyncShards"]

log = logging.getLogger("jsonrest")
_DEFAULT: Any = object()


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

    def priority(self, host: str) -> Any:
        """The priority of `host` in covers: lower is better, None removes it.

        Per host, like `AsyncResources.priority`, which it returns by default.
        A cover has the fewest hosts first; among covers of that size it
        prefers the better priorities (the worst member first, then the next).
        Override it to steer multicasts, say towards a zone.
        """
        return self.resources.priority(host)

    def _weight(self) -> Callable[[str], Any]:
        if type(self).priority is AsyncShards.priority:
            return self.resources.priority  # skip a call layer per host
        return self.priority

    def cover(self, keys: Iterable[Hashable]) -> frozenset[str]:
        """The fewest hosts that together hold every key in `keys`.

        Never a removed host (priority None); a host that is down only for
        keys no live host holds; among covers of the fewest hosts the best
        `priority`, then at random. Raises `KeyError` for an unknown key,
        `NoHostAvailable` for a key none of whose hosts may be used.
        """
        resources = self.resources
        return self.placement.cover(
            keys, self._weight(), resources.health.live, rng=resources.rng
        )

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
        *,
        idempotent: bool | None = None,
        deadline: float | None = _DEFAULT,
        **kw: Any,
    ) -> list[Response]:
        """Send to the hosts of `cover(keys)` at once: one response per host.

        Each response's `keys` are the requested keys it stands for; each key
        is in exactly one. Statuses are returned. When hosts fail, the keys no
        answer stands for go to a cover of them among hosts not yet tried, at
        most `retries` more rounds within `deadline` (for the whole call), if
        the request may be sent again: always when nothing was sent; after a
        timeout or a dropped connection only when idempotent (GET, HEAD,
        OPTIONS, PUT, DELETE, or `idempotent=True`). If keys are left without
        an answer, `BroadcastError` holds every error and every response.
        """
        plan = self._plan(keys, method, idempotent, deadline)
        while hosts := plan.next_hosts():
            if plan.rounds > 1:  # the path without its query, as unicast logs it
                where = f"{method} {str(path).split('?', 1)[0]}"
                log.warning("multicast %s: keys re-covered on %s", where, hosts)
            try:
                responses = await self.resources.broadcast(
                    method, path, body, hosts=hosts, deadline=plan.remaining(), **kw
                )
            except BroadcastError as error:
                plan.report(error.responses, error.exceptions)
            else:
                plan.report(dict(zip(hosts, responses, strict=True)), ())
        return plan.result()

    def _plan(
        self,
        keys: Iterable[Hashable],
        method: str,
        idempotent: bool | None,
        deadline: float | None,
    ) -> Multicast:
        """The plan of one multicast, with this shard's hooks and options."""
        resources = self.resources
        if deadline is _DEFAULT:
            deadline = resources.deadline
        if deadline is not None and not deadline > 0:
            raise ValueError(f"deadline must be seconds > 0 or None, not {deadline!r}")
        if idempotent is None:
            idempotent = isinstance(method, str) and method.upper() in IDEMPOTENT
        return Multicast(
            self.placement,
            keys,
            weight=self._weight(),
            live=resources.health.live,
            rng=resources.rng,
            retries=resources.retries,
            idempotent=idempotent,
            deadline=None if deadline is None else Deadline(deadline),
        )

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
