"""`AsyncRefresher`: asks a cluster's discovery source and applies the answer.

The decisions (when, whether the answer will do, what changes) are the
core `Discovery`'s; this asks the source and applies the change. Refreshes
run in the background (`AsyncBackground`: a task in a task group that the
cluster's context manager opens, since trio has no task without a nursery;
the blocking twin's is a daemon thread): no call waits for one, except a
call that finds the cluster without members, which refreshes first
(rate-limited). An awaitable cluster used without its context manager has
no task to refresh in, so a call that finds a refresh due makes it first.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from .._concurrency import (
    AsyncBackground,
    AsyncGate,
    async_call_source,
    async_cancel_after,
    async_check_callable,
    async_in_thread,
)
from .._discovery import Discovery
from .._sources import DNS, SRV, Sniff, async_lookup_srv

__all__ = ["AsyncRefresher"]

# Set while a refresh asks its source: a sniff's own unicast must not wait
# for the refresh that sent it.
_refreshing: ContextVar[bool] = ContextVar("jsonrest_refreshing", default=False)


class AsyncRefresher:
    """Refreshes `cluster`'s members from `source` as `discovery` decides."""

    def __init__(self, cluster: Any, source: Any, discovery: Discovery) -> None:
        async_check_callable(source)
        self.cluster = cluster
        self.source = source
        self.discovery = discovery
        self.background = AsyncBackground()
        self._turn = AsyncGate(1, None)  # one refresh at a time; others wait

    async def start(self) -> None:
        """Refresh now, then go on in the background (the cluster's entry)."""
        await self.refresh(self._first)
        await self.background.enter(self._step)

    def _first(self) -> bool:
        return not self.discovery.refreshes

    async def follow(self) -> bool:
        """Before a call: refresh when the call needs it. True when the
        membership may have changed meanwhile (the call should plan again).

        A call waits only when the cluster has no member, or when nothing
        else would refresh (no background task).
        """
        discovery = self.discovery
        empty = not self.cluster.health.hosts
        if _refreshing.get():
            return False
        first = not discovery.refreshes  # this call is the start: ask first
        if self.background.ensure(self._step) and not (first or empty):
            return False
        waits = first or (empty and discovery.running)
        if not (waits or discovery.needed(empty)):
            return False
        await self.refresh(self._needed)
        return True

    def _needed(self) -> bool:
        return self.discovery.needed(not self.cluster.health.hosts)

    def host_down(self, host: str) -> None:
        """A host was marked down: refresh early (rate-limited)."""
        if self.discovery.host_down():
            self.background.wake()

    async def _step(self) -> float:
        await self.refresh(self.discovery.due)
        return self.discovery.delay()

    async def refresh(self, needed: Callable[[], bool]) -> None:
        """Refresh if `needed()` still holds once it is this caller's turn."""
        async with self._turn.turn():
            if self.cluster.health.closed or not needed():
                return
            await self._refresh()

    async def _refresh(self) -> None:
        discovery = self.discovery
        if not discovery.begin():
            return
        change = None
        try:
            timeout = discovery.timeout
            answer: Any = None
            token = _refreshing.set(True)
            try:
                with async_cancel_after(timeout) as scope:
                    answer = await self._ask(timeout)
            finally:
                _refreshing.reset(token)
            if scope.cancelled_caught:
                discovery.failed(
                    f"no answer within {timeout:g} s (discover_timeout)",
                    len(self.cluster.health.hosts),
                )
            else:
                change = discovery.answered(answer, self.cluster.health.hosts)
        except Exception as exc:
            discovery.failed(exc, len(self.cluster.health.hosts))
        finally:
            discovery.end()
        if change is not None and not self.cluster.health.closed:
            self.cluster._apply(change)

    async def _ask(self, timeout: float) -> Any:
        """The source's answer (validated by the core, not here)."""
        source = self.source
        if isinstance(source, DNS):
            return await async_in_thread(source.lookup, timeout)
        if isinstance(source, SRV):
            return await async_lookup_srv(source, timeout)
        if isinstance(source, Sniff):
            if not self.cluster.health.hosts:
                raise LookupError("the cluster has no member to ask")
            response = await self.cluster.unicast(
                source.method, source.path, source.json, deadline=timeout
            )
            return source.map(response())
        return await async_call_source(source, timeout)

    # Lifetime ---------------------------------------------------------------

    def stop(self) -> None:
        """Stop refreshing (the cluster closes)."""
        self.background.stop()

    async def leave(self) -> None:
        """Stop refreshing and wait for the background to end."""
        await self.background.leave()
