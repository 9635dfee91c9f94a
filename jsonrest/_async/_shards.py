"""`AsyncShards`: keys placed on hosts; unicast, broadcast and multicast by key."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from types import TracebackType
from typing import Any

from .._exceptions import BroadcastError
from .._options import DEFAULT, Default
from .._placement import Placement
from .._response import Response
from .._shards_base import ShardsBase, check_no_quorum, check_options, log
from ._resources import AsyncResources

__all__ = ["AsyncShards"]


class AsyncShards(ShardsBase[AsyncResources]):
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
        check_options(type(self).__name__, options)
        self.placement = Placement(items, multimap)
        self.resources = AsyncResources(self.placement.hosts, **options)

    async def unicast(
        self, key: Hashable, method: str, path: str, json: Any = None, **kw: Any
    ) -> Response:
        """Send to one host that holds `key`, with the resources' failover."""
        return await self.resources.unicast(
            method, path, json, hosts=self._ordered(self[key]), **kw
        )

    async def broadcast(
        self, key: Hashable, method: str, path: str, json: Any = None, **kw: Any
    ) -> list[Response]:
        """Send to every host that holds `key`; as `AsyncResources.broadcast`
        (`quorum=k`: the first k 2xx answers of those hosts)."""
        return await self.resources.broadcast(
            method, path, json, hosts=self._ordered(self[key]), **kw
        )

    async def multicast(
        self,
        keys: Iterable[Hashable],
        method: str,
        path: str,
        json: Any = None,
        *,
        idempotent: bool | None = None,
        deadline: float | Default | None = DEFAULT,
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
        It takes no `quorum`: every key needs its answer (use `broadcast` for a
        quorum of the hosts holding one key).
        """
        check_no_quorum(kw)
        plan = self._plan(keys, method, idempotent, deadline, path)
        with plan.record:
            while hosts := plan.next_hosts():
                if plan.rounds > 1:  # the path without its query, as unicast logs it
                    where = f"{method} {str(path).split('?', 1)[0]}"
                    log.warning("multicast %s: keys re-covered on %s", where, hosts)
                try:
                    responses = await self.resources.broadcast(
                        method, path, json, hosts=hosts, deadline=plan.remaining(), **kw
                    )
                except BroadcastError as error:
                    plan.report(error.responses, error.exceptions)
                else:
                    plan.report({response.host: response for response in responses}, ())
            return plan.result()

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
