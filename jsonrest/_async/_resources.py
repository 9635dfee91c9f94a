"""`AsyncResources`: many hosts, load-balanced unicast and parallel broadcast."""

from __future__ import annotations

import time
from collections.abc import Iterable
from functools import partial
from types import TracebackType
from typing import Any

from .._call import Attempt, Broadcast, Call
from .._cluster import ResourcesBase
from .._concurrency import AsyncWorkers, async_cancel_after, async_race
from .._discovery import Discovery
from .._exceptions import Error
from .._hedge import Hedge
from .._options import DEFAULT, Default, Options
from .._request import Headers
from .._response import Response
from ._refresh import AsyncRefresher
from ._resource import AsyncResource

__all__ = ["AsyncResources"]


class AsyncResources(ResourcesBase[AsyncResource]):
    """A thread-safe mapping of many hosts to pooled `AsyncResource`s.

    `unicast` sends to one host chosen by `choice` (load-balanced, with
    failover); `broadcast` sends to every host at once and gathers every
    response. Options: `retries` (further attempts of a unicast, each on
    another host; default 2), `deadline` (seconds bounding a whole call, default
    none), `backoff` / `max_backoff` (seconds a failed host is left alone,
    doubling per consecutive failure), `max_retry_after` (cap on a host's
    `Retry-After`, default 60 s), `telemetry` (None:
    OpenTelemetry's global providers, once configured; False: none; or
    `jsonrest.OpenTelemetry(...)`), `hedge` (seconds, `"adaptive"` or a
    `jsonrest.Hedge`: when unicasts send the request again to a second host;
    default None, never), `retry_budget` (a `jsonrest.RetryBudget` the
    retries and hedges of every call draw on: by default 20% of the calls of
    the last 10 s plus 10 a second; None for no budget), `outliers` (a
    `jsonrest.Outliers`: when answers mark a host down; None for never),
    `max_ejected` (the share of hosts that may be down at once, default 0.5)
    and `panic` (below this share of live hosts, down hosts are chosen too,
    default 0.5); the rest go to every `AsyncResource` (`timeout`, `limit`
    per host, `headers`, httpx client keywords). A
    broadcast runs one task per host, with no cap.

    Discovery: `discover` (`jsonrest.dns(...)`, `jsonrest.srv(...)`,
    `jsonrest.sniff(...)`, or a callable returning host strings) is asked on
    entering the context manager (or by the first call), then every
    `refresh` seconds (default 30) in the background, and early after a host
    is marked down, at most once per `min_refresh` seconds (default 1); each
    answer within `discover_timeout` seconds (default 5). The members then
    are exactly the hosts it named; a failed or empty answer keeps them (an
    empty one empties the cluster only with `allow_empty=True`). A call
    waits for discovery only when the cluster has no member (or, awaited
    without the context manager, when a refresh is due). docs/discovery.md
    says where each twin refreshes.
    """

    def _make_resource(self, host: str, options: Options) -> AsyncResource:
        return AsyncResource.configured(host, options)

    def _make_workers(self, max_workers: int) -> AsyncWorkers:
        return AsyncWorkers(max_workers)

    def _make_refresher(self, source: Any, discovery: Discovery) -> AsyncRefresher:
        return AsyncRefresher(self, source, discovery)

    async def unicast(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        content: bytes | str | None = None,
        hosts: Iterable[str] | None = None,
        params: Any = None,
        headers: Headers | None = None,
        timeout: Any = DEFAULT,
        idempotent: bool | None = None,
        deadline: float | Default | None = DEFAULT,
        hedge: float | str | Hedge | Default | None = DEFAULT,
    ) -> Response:
        """Send to one host chosen by `choice` (among `hosts` if given).

        Returns the `Response`, whatever its status. Fails over to a host not
        yet tried, at most `retries` times: always when no connection could be
        made; for idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, or
        `idempotent=True`) also after a timeout, a dropped connection or a
        502/503/504. POST and PATCH are otherwise sent at most once. The
        `deadline` bounds the whole call. Raises `TransportError` naming every
        host tried, `Timeout` past the deadline, `NoHostAvailable` when no host
        may be chosen. Retries beyond the retry budget are not sent.

        `hedge` (seconds, `"adaptive"`, a `jsonrest.Hedge` or None; the
        instance's by default) sends an idempotent request again to another
        live host when no answer has come after the delay; the first complete
        answer wins and the other attempts are cancelled.
        """
        start = (method, path, json, content, params, headers, hosts, deadline)
        call = self._call(idempotent, timeout, *start, hedge=hedge)
        refresher = self._refresher
        if refresher is not None and await refresher.follow() and hosts is None:
            # The members changed.
            call = self._call(idempotent, timeout, *start, hedge=hedge)
        await self._reap()
        with call.record:
            with async_cancel_after(call.time_left()) as scope:
                if call.hedging:
                    await self._hedged(call)
                else:
                    while (attempt := call.next()) is not None:
                        await self._attempt(call, attempt)
            if scope.cancelled_caught:
                call.expired()
            return call.result()

    async def _hedged(self, call: Call) -> None:
        """Run a unicast whose attempts may overlap: a hedge starts each time
        the delay passes with no answer, a failover once every attempt has
        failed; the first answer that settles the call wins."""
        async with async_race(self._workers, partial(self._left, call)) as runs:
            attempt = call.next()
            while attempt is not None:
                runs.start(attempt, partial(self._send, call, attempt))
                attempt = None
                while runs.running and not call.decided:
                    ended = await runs.next(call.wait_time())
                    if ended is not None:
                        await self._report(call, *ended)
                    elif call.expired_now():
                        return  # the blocking twin's deadline (no cancel scope)
                    elif (hedge := call.hedge()) is not None:
                        runs.start(hedge, partial(self._send, call, hedge))
                if not call.decided:
                    attempt = call.next()

    async def _send(self, plan: Call | Broadcast, attempt: Attempt) -> Response:
        with attempt.record:  # its span is the current one while it is sent
            response: Response = await attempt.resource.send(
                plan.request, attempt.timeout, plan.deadline
            )
        return response

    async def _report(
        self, plan: Call | Broadcast, attempt: Attempt, outcome: Any, elapsed: float
    ) -> None:
        """Report an attempt's outcome, as `_attempt` does, from the race."""
        try:
            if isinstance(outcome, Response):
                plan.answered(attempt, outcome)
            elif isinstance(outcome, Error):
                self._check_open()
                plan.failed(attempt, outcome)
            elif outcome is not None:
                raise outcome  # not a host's failure: a bug, or closed under us
        finally:
            if plan.ended(attempt, outcome, elapsed):
                await self._reap()

    def _left(
        self, plan: Call | Broadcast, attempt: Attempt, outcome: Any, elapsed: float
    ) -> None:
        """An attempt that lost a race ended: cancelled, or left to finish."""
        plan.abandoned(attempt, outcome, elapsed)

    async def broadcast(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        content: bytes | str | None = None,
        hosts: Iterable[str] | None = None,
        params: Any = None,
        headers: Headers | None = None,
        timeout: Any = DEFAULT,
        deadline: float | Default | None = DEFAULT,
        quorum: int | None = None,
    ) -> list[Response]:
        """Send to every host (or `hosts`) at once; return responses in host order.

        Statuses are not raised. When any host fails at the transport level,
        the others still complete and `BroadcastError` is raised: an
        `ExceptionGroup` of the errors, with `.responses` holding every
        response that did arrive. A host discarded before its request starts
        is skipped. Its wall time is that of the slowest host.

        With `quorum=k`, it returns the first k 2xx responses as soon as they
        have arrived, in that order, and cancels the rest; `BroadcastError`
        as soon as k can no longer be reached (at once, sending nothing, when
        there are fewer than k hosts).
        """
        start = (method, path, json, content, params, headers, hosts, deadline)
        plan = self._broadcast(timeout, *start, quorum=quorum)
        refresher = self._refresher
        if refresher is not None and await refresher.follow() and hosts is None:
            # The members changed.
            plan = self._broadcast(timeout, *start, quorum=quorum)
        await self._reap()
        with plan.record:
            if plan.quorum is not None:
                with async_cancel_after(plan.time_left()) as scope:
                    await self._quorum(plan)
                if scope.cancelled_caught:
                    plan.expire_rest()
                return plan.result()
            calls = [partial(self._broadcast_one, plan, host) for host in plan.hosts]
            for outcome in await self._workers.gather(calls):
                if outcome is not None:
                    raise outcome  # not a host's failure: a bug, or closed under us
            return plan.result()

    async def _quorum(self, plan: Broadcast) -> None:
        """Run a quorum broadcast: every host at once, until it is decided."""
        async with async_race(self._workers, partial(self._left, plan)) as runs:
            for host in plan.hosts:
                attempt = plan.start(host)
                if attempt is not None:
                    runs.start(attempt, partial(self._send, plan, attempt))
            while runs.running and not plan.decided:
                ended = await runs.next(plan.wait_time())
                if ended is not None:
                    await self._report(plan, *ended)
                elif plan.expired_now():
                    return  # the blocking twin's deadline (no cancel scope)

    async def _broadcast_one(self, plan: Broadcast, host: str) -> None:
        attempt = plan.start(host)
        if attempt is None:
            return
        with async_cancel_after(plan.time_left()) as scope:
            await self._attempt(plan, attempt)
        if scope.cancelled_caught:
            plan.expired(host)

    async def _attempt(self, plan: Call | Broadcast, attempt: Attempt) -> None:
        """Send one attempt and report how it ended to its plan."""
        outcome: object = None  # stays None if cancelled
        start = time.perf_counter()
        try:
            response = await self._send(plan, attempt)
        except Error as error:
            outcome = error
            self._check_open()  # closed under us: that, not the host, failed
            plan.failed(attempt, error)
        else:
            outcome = response
            plan.answered(attempt, response)
        finally:
            if plan.ended(attempt, outcome, time.perf_counter() - start):
                await self._reap()

    async def _reap(self) -> None:
        """Close discarded hosts' pools once their last request has ended."""
        for state in self.health.reapable():
            await state.resource.aclose()

    # Lifetime ---------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every pool and worker, and stop discovery; later calls raise
        `RuntimeError`."""
        if self._refresher is not None:
            self._refresher.stop()
        for state in self.health.close():
            await state.resource.aclose()
        self._workers.close()

    async def __aenter__(self) -> AsyncResources:
        if self._refresher is not None:
            # The first answer before the body, then refreshes beside it.
            await self._refresher.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._refresher is not None:
            await self._refresher.leave()
        await self.aclose()
