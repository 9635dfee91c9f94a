"""`AsyncResources`: many hosts, load-balanced unicast and parallel broadcast."""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import partial
from types import TracebackType
from typing import Any

from .._concurrency import AsyncWorkers, async_cancel_after
from .._exceptions import BroadcastError, Error, Timeout, TransportError
from .._failover import Attempts, attempt_timeout
from .._faults import classify
from .._health import Health, HostState, parse_retry_after
from .._options import DEFAULT_TIMEOUT, client_options, tls_context
from .._request import Headers, Request, prepare
from .._response import Response
from .._selection import choose
from ._resource import AsyncResource

__all__ = ["AsyncResources"]

log = logging.getLogger("jsonrest")
_DEFAULT: Any = object()
_RETRY_AFTER_STATUSES = (429, 503)


class AsyncResources(Mapping[str, AsyncResource]):
    """A thread-safe mapping of many hosts to pooled `AsyncResource`s.

    `unicast` sends to one host chosen by `choice` (load-balanced, with
    failover); `broadcast` sends to every host at once and gathers every
    response. Options: `retries` (further attempts of a unicast, each on
    another host; default 2), `deadline` (seconds bounding a whole call, default
    none), `backoff` / `max_backoff` (seconds a failed host is left alone,
    doubling per consecutive failure), `max_retry_after` (cap on a host's
    `Retry-After`, default 60 s), `max_workers` (threads of the blocking
    twin's broadcast pool, default 64); the rest go to every `AsyncResource`
    (`timeout`, `limit` per host, `headers`, httpx client keywords).
    """

    def __init__(
        self,
        hosts: Iterable[str] = (),
        *,
        retries: int = 2,
        deadline: float | None = None,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        max_retry_after: float = 60.0,
        max_workers: int = 64,
        **options: Any,
    ) -> None:
        if isinstance(hosts, str):
            raise TypeError("hosts must be an iterable of host strings, not one str")
        if not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an int >= 0, not {retries!r}")
        if deadline is not None and deadline <= 0:
            raise ValueError(f"deadline must be seconds > 0 or None, not {deadline!r}")
        client_options(options)  # unknown or bad options fail now, not per host
        self.retries = retries
        self.deadline = deadline
        self.options = options
        self.timeout = options.get("timeout", DEFAULT_TIMEOUT)
        self.health = Health(
            backoff=backoff, max_backoff=max_backoff, max_retry_after=max_retry_after
        )
        self.rng = random.Random()
        self._resources: dict[str, AsyncResource] = {}
        self._hosts: tuple[str, ...] = ()
        self._retired: list[tuple[AsyncResource, HostState]] = []
        self._lock = threading.Lock()
        self._shared = _SharedTLS(options)
        self._workers = AsyncWorkers(max_workers)
        self._closed = False
        for host in hosts:
            self.add(host)

    # The mapping ------------------------------------------------------------

    def __getitem__(self, host: str) -> AsyncResource:
        return self._resources[host]

    def __iter__(self) -> Iterator[str]:
        return iter(self._hosts)

    def __len__(self) -> int:
        return len(self._hosts)

    def __contains__(self, host: object) -> bool:
        return host in self._resources

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self._hosts)!r})"

    def add(self, host: str) -> None:
        """Add `host` (no-op if present); `ValueError` if it is not a valid host."""
        if host in self._resources:
            return
        resource = AsyncResource(host, **self.options)
        resource.tls = self._shared
        with self._lock:
            self._check_open()
            if host not in self._resources:
                self.health.add(host)
                # Copy on write: readers iterate a snapshot without the lock.
                self._resources = {**self._resources, host: resource}
                self._hosts = (*self._hosts, host)

    def discard(self, host: str) -> None:
        """Remove `host` (no-op if absent); its requests in flight complete.

        Its connections close when its last request ends (at the next call if
        none is in flight), or at `aclose`.
        """
        with self._lock:
            resource = self._resources.get(host)
            if resource is None:
                return
            self._resources = {h: r for h, r in self._resources.items() if h != host}
            self._hosts = tuple(h for h in self._hosts if h != host)
            state = self.health.discard(host)
            if state is not None:
                self._retired.append((resource, state))

    # Selection hooks --------------------------------------------------------

    def priority(self, host: str) -> Any:
        """The priority of `host`: lower is better, None removes it from choice.

        The default ranks live hosts first, by fewest requests in flight; then
        hosts that asked to be left alone (`Retry-After`); then hosts that are
        down, by when their backoff ends. Override it to steer traffic.
        """
        return self.health.priority(host)

    def choice(self, hosts: Sequence[str]) -> str:
        """Choose one of `hosts` by `priority`; `NoHostAvailable` if none may be."""
        priority = self.priority
        if type(self).priority is AsyncResources.priority:
            priority = self.health.priority  # skip a call layer on the hot path
        return choose(hosts, priority, self.health, self.rng)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per host: requests, failures, in flight, state (up/avoided/down), until
        (epoch seconds or None) and mean latency in seconds."""
        return self.health.stats()

    # Calls ----------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed")

    def _subset(self, hosts: Iterable[str]) -> Sequence[str]:
        if isinstance(hosts, str):
            raise TypeError("hosts must be an iterable of host strings, not one str")
        if not hosts:
            return self._hosts
        resources = self._resources
        chosen = list(dict.fromkeys(hosts))
        unknown = [host for host in chosen if host not in resources]
        if unknown:
            raise ValueError(f"not hosts of this {type(self).__name__}: {unknown}")
        return chosen

    async def _send(
        self, host: str, request: Request, timeout: Any, expires: float | None
    ) -> Response:
        resource = self._resources[host]
        state = self.health.started(host)
        start = time.perf_counter()
        outcome: Any = "cancelled"
        try:
            response = await resource.send(request, timeout, expires)
            outcome = response.status
            return response
        except Error as error:
            outcome = type(error).__name__
            raise
        finally:
            elapsed = time.perf_counter() - start
            self.health.finished(state, elapsed)
            if log.isEnabledFor(logging.DEBUG):
                # The path without its query: queries may carry credentials.
                path = request.target.split("?", 1)[0]
                log.debug(
                    "%s %s%s -> %s in %.1f ms",
                    request.method,
                    host,
                    path,
                    outcome,
                    elapsed * 1000,
                )
            if state.retired and not state.in_flight:
                await self._reap()

    async def _reap(self) -> None:
        """Close discarded hosts' pools once their last request has ended."""
        with self._lock:
            idle = [pair for pair in self._retired if not pair[1].in_flight]
            self._retired = [pair for pair in self._retired if pair[1].in_flight]
        for resource, _ in idle:
            await resource.aclose()

    def _observe(self, host: str, response: Response) -> None:
        if response.status in _RETRY_AFTER_STATUSES:
            wait = parse_retry_after(response.headers.get("retry-after"))
            if wait is not None:
                self.health.avoid(host, wait)
                return
        if response.status < 500:
            self.health.succeeded(host)

    async def _start(
        self,
        method: str,
        path: str,
        body: Any,
        params: Any,
        headers: Headers | None,
        hosts: Iterable[str],
        deadline: float | None,
    ) -> tuple[Request, Sequence[str], float | None]:
        """Begin a call: check and encode it before any traffic, pick its hosts
        and its deadline, and close the pools of hosts discarded since."""
        self._check_open()
        if self._retired:
            await self._reap()
        request = prepare(method, path, body, params, headers)
        targets = self._subset(hosts)
        return request, targets, self.deadline if deadline is _DEFAULT else deadline

    async def unicast(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        hosts: Iterable[str] = (),
        params: Any = None,
        headers: Headers | None = None,
        idempotent: bool | None = None,
        deadline: float | None = _DEFAULT,
    ) -> Response:
        """Send to one host chosen by `choice` (among `hosts` if given).

        Returns the `Response`, whatever its status. Fails over to a host not
        yet tried, at most `retries` times: always when no connection could be
        made; for idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, or
        `idempotent=True`) also after a timeout, a dropped connection or a
        502/503/504. POST and PATCH are otherwise sent at most once. The
        `deadline` bounds the whole call. Raises `TransportError` naming every
        host tried, `Timeout` past the deadline, `NoHostAvailable` when no host
        may be chosen.
        """
        request, candidates, deadline = await self._start(
            method, path, body, params, headers, hosts, deadline
        )
        attempts = Attempts(
            request, retries=self.retries, deadline=deadline, idempotent=idempotent
        )
        with async_cancel_after(deadline) as scope:
            return await self._unicast(request, candidates, attempts)
        if scope.cancelled_caught:
            raise attempts.deadline_exceeded()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _unicast(
        self, request: Request, candidates: Sequence[str], attempts: Attempts
    ) -> Response:
        while True:
            untried = candidates
            if attempts.tried:
                untried = [h for h in candidates if h not in attempts.tried]
                if not untried:
                    raise attempts.failure()
            host = self.choice(untried)
            if host not in self._resources:  # discarded since the choice
                continue
            remaining = attempts.remaining()
            if remaining is not None and remaining <= 0:
                raise attempts.deadline_exceeded()
            timeout = attempt_timeout(self.timeout, remaining)
            attempts.start(host)
            has_next = len(attempts.tried) < len(candidates)
            try:
                response = await self._send(host, request, timeout, attempts.expires)
            except Error as error:
                self._check_open()  # closed under us: that, not the host, failed
                retry, at_fault = attempts.failed(host, error, timeout is not None)
                if at_fault:
                    self.health.failed(host)
                remaining = attempts.remaining()
                if remaining is not None and remaining <= 0:
                    raise attempts.deadline_exceeded() from error
                if not (retry and has_next):
                    raise attempts.failure() from error
                log.warning(
                    "%s %s failed on %s, failing over: %s",
                    request.method,
                    attempts.path,
                    host,
                    error,
                )
                continue
            self._observe(host, response)
            if has_next and attempts.retry_status(response.status):
                log.warning(
                    "%s %s got %d from %s, failing over",
                    request.method,
                    attempts.path,
                    response.status,
                    host,
                )
                attempts.errors.append(
                    TransportError(f"{response.status} {response.reason}", host=host)
                )
                continue
            return response

    async def broadcast(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        hosts: Iterable[str] = (),
        params: Any = None,
        headers: Headers | None = None,
        deadline: float | None = _DEFAULT,
    ) -> list[Response]:
        """Send to every host (or `hosts`) at once; return responses in host order.

        Statuses are not raised. When any host fails at the transport level,
        the others still complete and `BroadcastError` is raised: an
        `ExceptionGroup` of the errors, with `.responses` holding every
        response that did arrive. Its wall time is that of the slowest host.
        """
        request, targets, deadline = await self._start(
            method, path, body, params, headers, hosts, deadline
        )
        expires = None if deadline is None else time.monotonic() + deadline
        calls = [
            partial(self._broadcast_one, host, request, deadline, expires)
            for host in targets
        ]
        outcomes = await self._workers.gather(calls)
        responses = {}
        errors = []
        for host, outcome in zip(targets, outcomes, strict=True):
            if isinstance(outcome, Response):
                responses[host] = outcome
            elif isinstance(outcome, Error):
                errors.append(outcome)
            else:
                raise outcome
        if errors:
            self._check_open()  # closed under us: that, not the hosts, failed
            raise BroadcastError(
                f"{len(errors)} of {len(targets)} hosts failed: "
                + ", ".join(getattr(e, "host", "?") for e in errors),
                errors,
                responses,
            )
        return [responses[host] for host in targets]

    async def _broadcast_one(
        self,
        host: str,
        request: Request,
        deadline: float | None,
        expires: float | None,
    ) -> Response:
        timeout = attempt_timeout(self.timeout, deadline)
        with async_cancel_after(deadline) as scope:
            try:
                response = await self._send(host, request, timeout, expires)
            except Error as error:
                cut_short = timeout is not None and isinstance(error, Timeout)
                if classify(error).host_at_fault and not cut_short:
                    self.health.failed(host)
                raise
            self._observe(host, response)
            return response
        if scope.cancelled_caught:
            raise Timeout(
                f"{request.method}: deadline of {deadline} s exceeded", host=host
            )
        raise AssertionError("unreachable")  # pragma: no cover

    # Lifetime ---------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every pool and worker; later calls raise `RuntimeError`."""
        with self._lock:
            self._closed = True
            resources = list(self._resources.values())
            resources += [resource for resource, _ in self._retired]
            self._retired = []
        for resource in resources:
            await resource.aclose()
        self._workers.close()

    async def __aenter__(self) -> AsyncResources:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class _SharedTLS:
    """One TLS context for every host's client, made on first use.

    httpx builds a context per client, which costs milliseconds each; a cluster
    of a thousand hosts shares one instead.
    """

    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options
        self._context: ssl.SSLContext | None = None
        self._lock = threading.Lock()

    def __call__(self) -> ssl.SSLContext:
        with self._lock:
            if self._context is None:
                self._context = tls_context(self._options)
            return self._context
