"""`ResourcesBase`: what both `Resources` twins do without awaiting anything.

The mapping, membership (`add`/`discard`), the selection hooks, `stats`, and
the making of each call's plan live here once; a twin adds only the I/O:
sending, gathering a broadcast, closing pools.
"""

from __future__ import annotations

import random
import ssl
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

from ._budget import RetryBudget
from ._call import Broadcast, Call
from ._deadline import Deadline
from ._discovery import Change, Discovery, Member, discovery_options
from ._health import Health
from ._hedge import Hedge, hedge_option
from ._hosts import parse_host
from ._latency import Recent
from ._options import (
    DEFAULT,
    Default,
    Options,
    check_seconds,
    check_share,
    check_timeout,
    cluster_options,
    resource_options,
    tls_context,
)
from ._outliers import Detector, Outliers
from ._request import Headers, Request, prepare
from ._selection import choose, choose_by_load
from ._sources import check_source, describe
from ._telemetry import CallRecord, current, telemetry_setting

__all__ = ["DEFAULT", "ResourcesBase", "SharedTLS", "Stats"]

R = TypeVar("R")


class ResourcesBase(Mapping[str, R], Generic[R]):
    """A thread-safe mapping of hosts to resources, and each call's plan.

    Subclasses name the resource type and the workers a broadcast runs on.
    """

    def _make_resource(self, host: str, options: Options) -> Any:
        """A new resource for `host` (the twin's type)."""
        raise NotImplementedError

    def _make_workers(self, max_workers: int) -> Any:
        """The workers a broadcast runs on (the twin's kind)."""
        raise NotImplementedError

    def _make_refresher(self, source: Any, discovery: Discovery) -> Any:
        """What asks `source` and applies its answers (the twin's kind)."""
        raise NotImplementedError

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
        telemetry: Any = None,
        discover: Any = None,
        refresh: float | None = None,
        min_refresh: float | None = None,
        discover_timeout: float | None = None,
        allow_empty: bool | None = None,
        hedge: float | str | Hedge | None = None,
        retry_budget: RetryBudget | Default | None = DEFAULT,
        outliers: Outliers | Default | None = DEFAULT,
        max_ejected: float = 0.5,
        panic: float = 0.5,
        **options: Any,
    ) -> None:
        if isinstance(hosts, str):
            raise TypeError("hosts must be an iterable of host strings, not one str")
        if discover is not None:
            check_source(discover)
        found = discovery_options(
            discover,
            refresh=refresh,
            min_refresh=min_refresh,
            discover_timeout=discover_timeout,
            allow_empty=allow_empty,
        )
        own = cluster_options(
            retries=retries,
            deadline=deadline,
            backoff=backoff,
            max_backoff=max_backoff,
            max_retry_after=max_retry_after,
            max_workers=max_workers,
        )
        #: Every host's options, checked once and shared.
        self.resource_options = resource_options(options)
        self.retries = own.retries
        self.deadline = own.deadline
        self.options = options
        self.timeout = self.resource_options.timeout
        #: How unicasts hedge by default (None: they do not).
        self.hedge = hedge_option(hedge)
        if retry_budget is DEFAULT:
            retry_budget = RetryBudget()
        elif retry_budget is not None and not isinstance(retry_budget, RetryBudget):
            raise TypeError(
                f"retry_budget must be a jsonrest.RetryBudget or None, "
                f"not {retry_budget!r}"
            )
        #: The retries and hedges every call of this instance draws on.
        self.retry_budget = retry_budget
        if outliers is DEFAULT:
            outliers = Outliers()
        elif outliers is not None and not isinstance(outliers, Outliers):
            raise TypeError(
                f"outliers must be a jsonrest.Outliers or None, not {outliers!r}"
            )
        self.health = Health(
            backoff=own.backoff,
            max_backoff=own.max_backoff,
            max_retry_after=own.max_retry_after,
            max_ejected=check_share("max_ejected", max_ejected),
            panic=check_share("panic", panic),
        )
        self._outliers = (
            None
            if outliers is None
            else Detector(outliers, lambda: self.health.states.values())
        )
        # Latencies of recent attempts, kept once a call hedges adaptively.
        self._recent: Recent | None = None
        self.rng = random.Random()
        # None: OpenTelemetry's global providers, looked up at each call.
        self._telemetry = telemetry_setting(telemetry)
        self._tls = SharedTLS(self.resource_options.client)
        self._workers = self._make_workers(own.max_workers)
        #: Discovery's refresher (None without `discover`).
        self._refresher: Any = None
        if found is not None:
            discovery = Discovery(describe(discover), found)
            self._refresher = self._make_refresher(discover, discovery)
            self.health.on_down = self._refresher.host_down
        for host in hosts:
            self.add(host)

    # The mapping ------------------------------------------------------------

    def __getitem__(self, host: str) -> R:
        state = self.health.get(host)
        if state is None:
            raise KeyError(host)
        resource: R = state.resource
        return resource

    def __iter__(self) -> Iterator[str]:
        return iter(self.health.hosts)

    def __len__(self) -> int:
        return len(self.health.hosts)

    def __contains__(self, host: object) -> bool:
        return isinstance(host, str) and self.health.get(host) is not None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.health.hosts)!r})"

    def add(self, host: str) -> None:
        """Add `host` (no-op if present); `ValueError` if it is not a valid host.

        With `discover`, the next accepted answer decides whether it stays.
        """
        self._check_open()
        if self.health.get(host) is not None:
            return
        resource = self._make_resource(host, self.resource_options)
        resource.tls = self._tls
        # Losing a race with another add leaves this resource unused: its
        # client is made on first use, so there is nothing to close.
        self.health.add(host, resource)

    def discard(self, host: str) -> None:
        """Remove `host` (no-op if absent); its requests in flight complete.

        Calls that have not yet sent to it skip it. Its connections close when
        its last request ends (at the next call if none is in flight), or when
        the cluster closes.
        """
        self.health.discard(host)

    # Discovery --------------------------------------------------------------

    def member(self, host: str) -> Member | None:
        """What discovery found for member `host`: its `Member` (the name it
        was discovered under, an SRV record's priority and weight), or None
        (no discovery, or a host it did not name)."""
        refresher = self._refresher
        return None if refresher is None else refresher.discovery.members.get(host)

    def discovery_stats(self) -> dict[str, Any] | None:
        """Discovery's record, None without `discover`: its `source`, counts of
        `refreshes` and `failures`, `failing` (failures in a row now), the
        last `error`, hosts `added` and `removed` in all and by the last
        change (`last_added`, `last_removed`), and when the last refresh ended
        and the next is due (`last_refresh`, `next_refresh`: epoch seconds)."""
        refresher = self._refresher
        return None if refresher is None else refresher.discovery.stats()

    def _apply(self, change: Change) -> None:
        """Apply what a discovery answer changed, in one membership update."""
        added = []
        for member in change.added:
            if self.health.get(member.host) is not None:
                continue
            resource = self._make_resource(member.host, self.resource_options)
            resource.tls = self._tls
            name = member.name
            if name is not None and name != _name_of(member.host):
                resource.server_name = name  # found as an address: keep the name
            added.append((member.host, resource))
        try:
            self.health.update(added, change.removed)
        except RuntimeError:  # closed meanwhile: the new resources never ran
            return

    # Selection hooks --------------------------------------------------------

    def priority(self, host: str) -> Any:
        """The priority of `host`: lower is better, None removes it from choice.

        The default ranks live hosts first, by their latency estimate weighed
        with their requests in flight (`Health.priority`); then
        hosts that asked to be left alone (`Retry-After`); then hosts that are
        down, by when their backoff ends. Override it to steer traffic.
        """
        return self.health.priority(host)

    def choice(self, hosts: Sequence[str]) -> str:
        """Choose one of `hosts` by `priority`; `NoHostAvailable` if none may be."""
        if type(self).priority is ResourcesBase.priority:
            return choose_by_load(hosts, self.health, self.rng)
        return choose(hosts, self.priority, self.health, self.rng)

    def stats(self) -> Stats:
        """Per host: requests, failures, in flight, state (up/avoided/down), until
        (epoch seconds or None), mean latency and the latency estimate choice
        weighs (`latency`, a peak-EWMA) in seconds, and whether it is on
        probation; `.retry_budget` holds the budget's balance (None without)."""
        stats = Stats(self.health.stats())
        budget = self.retry_budget
        stats.retry_budget = None if budget is None else budget.stats()
        return stats

    # Plans ----------------------------------------------------------------

    def _check_open(self) -> None:
        if self.health.closed:
            raise RuntimeError(f"{type(self).__name__} is closed")

    def get(self, host: str, default: Any = None) -> Any:
        """The resource of member `host`, else `default` (as `Mapping.get`).

        A path (`"/items/1"`) is never a host: it raises `TypeError` rather
        than quietly returning `default`. To send a GET, use `unicast`.
        """
        if isinstance(host, str) and host.startswith("/"):
            raise TypeError(
                f"{type(self).__name__}.get looks up a host, and {host!r} is a "
                f"path: to send it, use unicast('GET', {host!r})"
            )
        return super().get(host, default)

    def _subset(self, hosts: Iterable[str] | None) -> Sequence[str]:
        if hosts is None:
            return self.health.hosts
        if isinstance(hosts, str):
            raise TypeError("hosts must be an iterable of host strings, not one str")
        chosen = list(dict.fromkeys(hosts))
        states = self.health.states
        unknown = [host for host in chosen if host not in states]
        if unknown:
            raise ValueError(f"not hosts of this {type(self).__name__}: {unknown}")
        return chosen

    def _deadline(self, deadline: float | Default | None) -> Deadline | None:
        if deadline is DEFAULT:
            seconds = self.deadline
        elif deadline is None:
            seconds = None
        else:
            seconds = check_seconds("deadline", deadline)
        return None if seconds is None else Deadline(seconds)

    def _start(
        self,
        method: str,
        path: str,
        json: Any,
        content: bytes | str | None,
        params: Any,
        headers: Headers | None,
        hosts: Iterable[str] | None,
        deadline: float | Default | None,
    ) -> tuple[Request, Sequence[str], Deadline | None]:
        """Begin a call: its request checked and encoded before any traffic,
        its hosts, its deadline."""
        self._check_open()
        request = prepare(method, path, json, params, headers, content)
        return request, self._subset(hosts), self._deadline(deadline)

    def _record(self, kind: str, method: str, target: str) -> CallRecord:
        """The telemetry record of a new call (see `Telemetry.call`)."""
        telemetry = self._telemetry
        if telemetry is None:
            telemetry = current()
        return telemetry.call(kind, method, target)

    def _hedging(self, hedge: Any) -> Hedge | None:
        hedging = self.hedge if hedge is DEFAULT else hedge_option(hedge)
        if hedging is not None and hedging.delay is None and self._recent is None:
            self._recent = Recent()  # from now on every answer's latency counts
        return hedging

    def _call(
        self, idempotent: bool | None, timeout: Any, *start: Any, hedge: Any = DEFAULT
    ) -> Call:
        """The plan of a unicast (`start`: the arguments of `_start`)."""
        hedging = self._hedging(hedge)
        request, hosts, deadline = self._start(*start)
        return Call(
            request,
            hosts,
            health=self.health,
            choose=self.choice,
            retries=self.retries,
            timeout=self.timeout,
            deadline=deadline,
            idempotent=idempotent,
            given=_given(timeout),
            record=self._record("unicast", request.method, request.target),
            hedge=hedging,
            budget=self.retry_budget,
            outliers=self._outliers,
            recent=self._recent,
        )

    def _broadcast(
        self, timeout: Any, *start: Any, quorum: int | None = None
    ) -> Broadcast:
        """The plan of a broadcast (`start`: the arguments of `_start`)."""
        request, hosts, deadline = self._start(*start)
        return Broadcast(
            request,
            hosts,
            health=self.health,
            timeout=self.timeout,
            deadline=deadline,
            given=_given(timeout),
            record=self._record("broadcast", request.method, request.target),
            outliers=self._outliers,
            quorum=quorum,
        )


class Stats(dict[str, dict[str, Any]]):
    """What `stats()` returns: a dict of each host's figures, and the retry
    budget's (`balance`, `calls`, `retries`, `refused`) as `.retry_budget`."""

    retry_budget: dict[str, Any] | None = None


def _name_of(host: str) -> str:
    return parse_host(host).name


def _given(timeout: Any) -> Any:
    return timeout if timeout is DEFAULT else check_timeout(timeout)


class SharedTLS:
    """One TLS context for every host's client, made on first use.

    httpx builds a context per client, which costs milliseconds each; a cluster
    of a thousand hosts shares one instead.
    """

    def __init__(self, options: Mapping[str, Any]) -> None:
        self._options = options
        self._context: ssl.SSLContext | None = None
        self._lock = threading.Lock()

    def __call__(self) -> ssl.SSLContext:
        with self._lock:
            if self._context is None:
                self._context = tls_context(self._options)
            return self._context
