"""The decisions of one call to many hosts, as objects both twins drive.

A `Call` (unicast) or `Broadcast` is made per call from a snapshot of the
hosts and one `Deadline`. It is fed outcomes and answers what comes next, in
the manner of urllib3's `Retry.increment` and h11's `Connection`: which host
to try, with what timeout, whether a failure is retried, what the caller gets,
and what each outcome says about the host. It sends nothing; the twins do the
I/O and report back::

    while (attempt := call.next()) is not None:
        try:
            response = send(attempt)
        except Error as error:
            call.failed(attempt, error)
        else:
            call.answered(attempt, response)
    return call.result()

A hedged unicast and a quorum broadcast run attempts at once: the twin starts
what `next`/`hedge` (or `start`) give, reports each outcome as it arrives,
waits at most `wait_time()` for the next, and stops once `decided`; an attempt
still running then is cancelled, or in the blocking twin left to finish, and
reported with `abandoned`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from ._budget import RetryBudget
from ._deadline import Deadline
from ._exceptions import (
    BroadcastError,
    Error,
    NoHostAvailable,
    StatusError,
    Timeout,
    TransportError,
)
from ._faults import classify, may_resend
from ._health import LIVE, Health, HostState
from ._hedge import Hedge
from ._latency import Recent
from ._options import DEFAULT, check_count
from ._outliers import Detector
from ._request import Request
from ._response import Response
from ._retry_after import parse_retry_after
from ._telemetry import CANCELLED, DEADLINE, NO_ATTEMPT, NO_CALL, CallRecord, error_type

__all__ = [
    "DEADLINE_MARGIN",
    "RETRY_AFTER_STATUSES",
    "RETRY_STATUSES",
    "Attempt",
    "Broadcast",
    "Call",
    "attempt_timeout",
]

log = logging.getLogger("jsonrest")

#: Statuses after which an idempotent request is tried on another host.
RETRY_STATUSES = frozenset({502, 503, 504})
#: Statuses whose `Retry-After` steers unicasts away from the host.
RETRY_AFTER_STATUSES = frozenset({429, 503})
#: A timeout that fires this close to the deadline is the deadline's doing (the
#: attempt's timeout was shortened to fit it), not the host's.
DEADLINE_MARGIN = 0.02


def attempt_timeout(configured: Any, remaining: float | None) -> Any:
    """The timeout of one attempt when only `remaining` seconds are left.

    Returns None when the configured timeout already fits.
    """
    if remaining is None:
        return None
    remaining = max(remaining, 0.001)
    if isinstance(configured, httpx.Timeout):
        parts = {
            name: remaining if value is None else min(value, remaining)
            for name, value in configured.as_dict().items()
        }
        return httpx.Timeout(**parts)
    if configured is None or configured > remaining:
        return remaining
    return None


class Attempt:
    """One request to one host: where, with what timeout, and its bookkeeping."""

    __slots__ = ("epoch", "host", "record", "state", "timeout")

    def __init__(self, state: HostState, timeout: Any, epoch: int) -> None:
        self.host = state.host
        self.state = state
        #: The timeout of this attempt (`DEFAULT`: the resource's own).
        self.timeout = timeout
        self.epoch = epoch
        #: Its telemetry: entered while it is sent, told how it ended.
        self.record = NO_ATTEMPT

    @property
    def resource(self) -> Any:
        """The host's resource, to send with."""
        return self.state.resource


class _Plan:
    """What every call shares: the request, the deadline, the health reports."""

    def __init__(
        self,
        request: Request,
        *,
        health: Health,
        timeout: Any,
        deadline: Deadline | None,
        given: Any = DEFAULT,
        record: CallRecord = NO_CALL,
        outliers: Detector | None = None,
        recent: Recent | None = None,
    ) -> None:
        self.request = request
        self.health = health
        #: The call's telemetry, told of each decision (see `_telemetry`).
        self.record = record
        self.outliers = outliers
        #: Where each answer's latency goes, for adaptive hedging (or None).
        self.recent = recent
        #: Attempts begun and not yet ended.
        self.running = 0
        # The call's own timeout (`given`, DEFAULT for none) or the resources'.
        self.given = given
        self.timeout = timeout if given is DEFAULT else given
        self.deadline = deadline

    @property
    def path(self) -> str:
        """The request's path without its query: queries may carry credentials."""
        return self.request.target.split("?", 1)[0]

    @property
    def what(self) -> str:
        """The method and path, for messages."""
        return f"{self.request.method} {self.path}"

    def time_left(self) -> float | None:
        """Seconds left before the deadline (None without one)."""
        return None if self.deadline is None else max(self.deadline.remaining(), 0.0)

    def _begin(self, state: HostState) -> Attempt | None:
        # None when the host was discarded since it was chosen.
        epoch = self.health.started(state)
        if epoch is None:
            return None
        remaining = None if self.deadline is None else self.deadline.remaining()
        timeout = attempt_timeout(self.timeout, remaining)
        if timeout is None:
            timeout = self.given
        self.running += 1
        attempt = Attempt(state, timeout, epoch)
        attempt.record = self.record.attempt(attempt)
        return attempt

    def ended(self, attempt: Attempt, outcome: object, elapsed: float) -> bool:
        """An attempt ended with `outcome` (a Response, an error, or anything
        for a cancellation). Call it however the attempt ended; True when the
        host was discarded and this was its last request: close its pool.

        `elapsed` is the wall time of the attempt; a response's own `elapsed`
        (the exchange alone) is recorded instead when there is one.
        """
        self.running -= 1
        if isinstance(outcome, Response):
            elapsed = outcome.elapsed
            if self.recent is not None:
                self.recent.add(elapsed)
        reap = self.health.finished(attempt.state, elapsed)
        if attempt.record is not NO_ATTEMPT:
            attempt.record.ended(self._told(outcome), elapsed)
        if log.isEnabledFor(logging.DEBUG):
            if isinstance(outcome, Response):
                what: object = outcome.status
            elif isinstance(outcome, BaseException):
                what = type(outcome).__name__
            else:
                what = "cancelled"
            log.debug(
                "%s %s%s -> %s in %.1f ms",
                self.request.method,
                attempt.host,
                self.path,
                what,
                elapsed * 1000,
            )
        return reap

    def _told(self, outcome: object) -> object:
        """What an attempt's record is told it ended with: the outcome, or
        the deadline's or a cancellation's doing."""
        deadline = self.deadline
        if outcome is None:  # cancelled: by the deadline's scope, or from outside
            return (
                DEADLINE if deadline is not None and deadline.expired() else CANCELLED
            )
        if (
            deadline is not None
            and isinstance(outcome, Timeout)
            and deadline.remaining() <= DEADLINE_MARGIN
        ):
            return DEADLINE
        return outcome

    def _answer(self, attempt: Attempt, response: Response) -> None:
        # An answer says the host is up, unless it asked for time or failed.
        status = response.status
        if status in RETRY_AFTER_STATUSES:
            wait = parse_retry_after(response.headers.get("retry-after"))
            if wait is not None:
                self.health.avoid(attempt.state, wait)
                return
        outliers = self.outliers
        if status < 500:
            if self.health.succeeded(attempt.state):
                self.record.host_up(attempt.host)
            if outliers is None or not outliers.succeeded(attempt.state):
                return
        elif outliers is None or not outliers.failed(attempt.state, status):
            return
        backoff = self.health.eject(attempt.state, attempt.epoch)
        if backoff:
            log.warning("host %s ejected for its answers (%d)", attempt.host, status)
            self.record.host_down(attempt.host, backoff)

    def abandoned(self, attempt: Attempt, outcome: object, elapsed: float) -> None:
        """An attempt ended after its call was decided: a hedge or the hosts of
        a quorum broadcast that lost the race, cancelled (`outcome` None) or,
        in the blocking twin, left to finish. What it says of its host counts;
        the call's result does not change. Safe from any thread.
        """
        if isinstance(outcome, Response):
            self._answer(attempt, outcome)
        elif isinstance(outcome, Error):
            self._judge(attempt, outcome)
        self.ended(attempt, outcome, elapsed)

    def wait_time(self) -> float | None:
        """How long a twin running attempts at once waits for the next outcome
        before asking again (None: until one arrives)."""
        return self.time_left()

    def _judge(self, attempt: Attempt, error: Error) -> tuple[Error, bool]:
        """The error to record for a failed attempt, and whether it was the
        deadline's; blames the host when the failure is its own."""
        deadline = self.deadline
        if (
            deadline is not None
            and isinstance(error, Timeout)
            and deadline.remaining() <= DEADLINE_MARGIN
        ):
            # Cut short by the caller's deadline: that says nothing of the host.
            return self._deadline_error(attempt.host, error), True
        if isinstance(error, TransportError) and classify(error).host_at_fault:
            backoff = self.health.failed(attempt.state, attempt.epoch)
            if backoff:
                self.record.host_down(attempt.host, backoff)
            if self.outliers is not None:
                self.outliers.failed(attempt.state)
        return error, False

    def _deadline_error(
        self,
        host: str,
        cause: BaseException | None,
        tried: Sequence[str] | None = None,
        errors: Sequence[Error] = (),
    ) -> Timeout:
        assert self.deadline is not None
        self.record.expired()
        if tried is None:
            detail = f" on {host}"
        else:
            detail = f" (tried {', '.join(tried) or 'no host'})"
        error = Timeout(
            self.deadline.message(self.what) + detail,
            host=host,
            hosts=tried or (),
            errors=errors,
        )
        if cause is not None:
            error.__cause__ = cause.__cause__ or cause
        return error


class Call(_Plan):
    """The plan of one unicast: which host next, retry or not, what to return.

    A failure is retried on a host not yet tried, while `retries` remain and
    the deadline allows, when the request may be resent (`may_resend`); an
    idempotent request answered 502/503/504 likewise. When no other host may
    be chosen, the last outcome stands: the response, or the error.
    """

    def __init__(
        self,
        request: Request,
        hosts: Sequence[str],
        *,
        health: Health,
        choose: Callable[[Sequence[str]], str],
        retries: int,
        timeout: Any,
        deadline: Deadline | None,
        idempotent: bool | None = None,
        given: Any = DEFAULT,
        record: CallRecord = NO_CALL,
        hedge: Hedge | None = None,
        budget: RetryBudget | None = None,
        outliers: Detector | None = None,
        recent: Recent | None = None,
    ) -> None:
        super().__init__(
            request,
            health=health,
            timeout=timeout,
            deadline=deadline,
            given=given,
            record=record,
            outliers=outliers,
            recent=recent,
        )
        self.hosts = hosts
        self.choose = choose
        self.retries = retries
        self.idempotent = request.idempotent if idempotent is None else idempotent
        self.tried: list[str] = []
        self.errors: list[Error] = []
        self._response: Response | None = None
        self._error: Error | None = None  # ends the call whatever else happened
        self._done = False
        self._stop = False  # an outcome that forbids another attempt arrived
        #: The retry budget: the call deposits when its first attempt begins
        #: (a plan made and dropped, as when the members change, adds nothing).
        self.budget = budget
        self._free = True  # the last failure sent nothing: its retry is free
        self._refused = 0  # attempts whose connection was refused
        #: Whether the retry budget stopped the call.
        self.budget_stopped = False
        #: How this call hedges (None: it does not; never when not idempotent).
        self.hedging_policy = hedge if self.idempotent else None
        #: Hedges sent so far.
        self.hedges = 0
        policy = self.hedging_policy
        self._delay = None if policy is None else policy.wait(recent)
        self._last = 0.0  # when the latest attempt began (hedging only)

    @property
    def hedging(self) -> bool:
        """Whether this call may send hedges (so runs attempts at once)."""
        return self._delay is not None

    @property
    def decided(self) -> bool:
        """Whether the call's outcome is settled (see `result`)."""
        return self._done

    def next(self) -> Attempt | None:
        """The next attempt, or None once the call is decided (see `result`)."""
        if self._done:
            return None
        deadline = self.deadline
        if deadline is not None and deadline.expired():
            self.expired()
            return None
        candidates = self._untried()
        if self.health.on_probation and not self.idempotent:
            candidates = self._safe(candidates)
        spent = False
        while True:
            if not candidates:
                self._give_up(None)
                return None
            try:
                host = self.choose(candidates)
            except NoHostAvailable as exc:
                self._give_up(exc)
                return None
            state = self.health.get(host)
            if state is not None:
                # The budget is asked before the attempt counts as in flight.
                if self.tried and not spent:
                    if not self._spend():
                        return None
                    spent = True
                attempt = self._begin(state)
                if attempt is not None:
                    break
            # Discarded since the call began: skipped, never waited for.
            candidates = [other for other in candidates if other != host]
        if self.tried:
            log.warning(
                "%s failed on %s (%s), failing over to %s",
                self.what,
                self.tried[-1],
                self._short(self.errors[-1]),
                host,
            )
            self.record.failover(self.tried[-1], (host,), self._reason())
        elif self.budget is not None:
            self.budget.deposit()
        self.tried.append(host)
        if self._delay is not None:
            self._last = self.health.clock()
        return attempt

    def _short(self, error: Error) -> str:
        # Each error names the request; a message about the call names it once.
        text = str(error)
        prefix = f"{self.what}: "
        return text[len(prefix) :] if text.startswith(prefix) else text

    def _reason(self) -> str | None:
        """Why the last attempt failed over: its `error_type`."""
        if self._response is not None:  # kept, and tried elsewhere (a 503)
            return error_type(self._response)
        return error_type(self.errors[-1])

    def _untried(self) -> Sequence[str]:
        """The call's hosts not tried yet."""
        if not self.tried:
            return self.hosts
        tried = set(self.tried)
        return [host for host in self.hosts if host not in tried]

    def _safe(self, candidates: Sequence[str]) -> Sequence[str]:
        """`candidates` but the hosts on probation, unless that leaves none: a
        request that may not be sent twice is not risked on a host that was
        ejected for its answers until it has answered well again."""
        states = self.health.states
        safe = [
            host
            for host in candidates
            if (state := states.get(host)) is None or not state.probation
        ]
        return safe or candidates

    def _retries_left(self) -> bool:
        """Whether another attempt is within `retries`. An attempt whose
        connection was refused does not count: it reached no host and cost
        no time, and each host is tried at most once anyway."""
        return len(self.tried) - self._refused <= self.retries

    def _spend(self) -> bool:
        """Draw a retry from the budget (a failover after nothing was sent is
        free: it adds no load); False, and the call ends, if it is spent."""
        if self.budget is None or self._free or self.budget.withdraw():
            return True
        self._done = self.budget_stopped = True
        self.record.budget_refused("retry")
        log.warning(
            "%s: not retried after %s: the retry budget is exhausted (%s)",
            self.what,
            self._short(self.errors[-1]) if self.errors else "a failure",
            self.budget,
        )
        return False

    def hedge_in(self) -> float | None:
        """Seconds until a hedge is due (0: now); None when none will be sent."""
        delay = self._delay
        if delay is None or self._done or not self.running:
            return None
        return max(0.0, self._last + delay - self.health.clock())

    def wait_time(self) -> float | None:
        """How long to wait for an outcome before asking `hedge` (or, past
        the deadline, `expired`); None: until one arrives."""
        due, left = self.hedge_in(), self.time_left()
        if due is None:
            return left
        return due if left is None else min(due, left)

    def hedge(self) -> Attempt | None:
        """A hedge, if one is due: the request again, to a live host not yet
        tried, while hedges, retries and the retry budget allow; else None."""
        due = self.hedge_in()
        if due is None or due > 0:
            return None
        policy = self.hedging_policy
        assert policy is not None
        state = None
        if self.hedges < policy.max_hedges and self._retries_left():
            candidates = self._untried()
            try:
                host = self.choose(candidates) if candidates else None
            except NoHostAvailable:
                host = None
            if host is not None and self.health.rank(host) == LIVE:
                state = self.health.get(host)
        if state is None:
            self._delay = None  # no more hedges for this call
            return None
        if self.budget is not None and not self.budget.withdraw():
            self._delay = None
            self.record.budget_refused("hedge")
            log.warning("%s: not hedged: the retry budget is exhausted", self.what)
            return None
        attempt = self._begin(state)
        if attempt is None:  # discarded since it was chosen
            self._delay = None
            return None
        self.hedges += 1
        self.tried.append(state.host)
        self._last = self.health.clock()
        self.record.hedge(state.host)
        log.debug("%s: hedged on %s", self.what, state.host)
        return attempt

    def _give_up(self, reason: NoHostAvailable | None) -> None:
        self._done = True
        if self.tried:
            return  # the last outcome stands
        hosts = self.hosts
        if not hosts:
            why = "no host was given (the cluster has none, or `hosts` named none)"
        elif all(self.health.get(host) is None for host in hosts):
            why = (
                f"all {len(hosts)} hosts were discarded since the call began"
                if len(hosts) > 1
                else "its only host was discarded since the call began"
            )
        else:
            why = str(reason or "no host may be chosen")
        self._error = NoHostAvailable(f"{self.what}: {why}")

    def answered(self, attempt: Attempt, response: Response) -> None:
        """The host answered `response` (any status)."""
        self._answer(attempt, response)
        if self._done:
            return  # another attempt decided the call first
        self._response = response
        if (
            self.idempotent
            and response.status in RETRY_STATUSES
            and self._retries_left()
        ):
            self._free = False
            # Kept, and returned when no other host may be tried.
            self.errors.append(
                TransportError(
                    f"{response.status} {response.reason} from {attempt.host}",
                    host=attempt.host,
                )
            )
            return
        self._done = True

    def failed(self, attempt: Attempt, error: Error) -> None:
        """The attempt raised `error` (a jsonrest error, no complete answer)."""
        error, late = self._judge(attempt, error)
        self.errors.append(error)
        if self._done:
            return  # another attempt decided the call first
        self._response = None
        self._free = isinstance(error, TransportError) and classify(error).nothing_sent
        if isinstance(error.__cause__, httpx.ConnectError):
            self._refused += 1  # refused at once: costs no retry
        if late:
            self._error = self._deadline_error(
                attempt.host, error, self.tried, self.errors
            )
            self._done = True
        elif self._stop or not (
            may_resend(error, self.idempotent) and self._retries_left()
        ):
            # With other attempts running, one of them may still answer.
            self._stop = True
            self._done = self.running <= 1

    def expired_now(self) -> bool:
        """Whether the deadline has passed; if so the call ends (`expired`)."""
        deadline = self.deadline
        if deadline is None or not deadline.expired():
            return False
        self.expired()
        return True

    def expired(self) -> None:
        """The deadline passed (the twin's cancel scope fired, or `next` saw it)."""
        assert self.deadline is not None
        host = self.tried[-1] if self.tried else ""
        self._error = self._deadline_error(host, None, self.tried, self.errors)
        self._response = None
        self._done = True

    def result(self) -> Response:
        """The call's response; or raises the error that ends it.

        A transport failure is raised as one `TransportError` (a `Timeout` if
        the last one was) naming every host tried, with each attempt's error
        in `.errors` and the last httpx exception as `__cause__`.
        """
        if self._error is not None:
            raise self._error
        if self._response is not None:
            return self._response
        last = self.errors[-1]
        if not isinstance(last, TransportError):
            raise last  # bad content, too large: the host's answer, as it is
        if len(self.errors) == 1:
            message = str(last)
        else:
            # Each error names its host.
            detail = "; ".join(self._short(error) for error in self.errors)
            message = f"{self.what} failed on {len(self.tried)} hosts ({detail})"
        if self.budget_stopped:
            message += " (not retried: the retry budget is exhausted)"
        kind = Timeout if isinstance(last, Timeout) else TransportError
        error = kind(message, host=self.tried[-1], hosts=self.tried, errors=self.errors)
        raise error from last.__cause__


class Broadcast(_Plan):
    """The plan of one broadcast: every host at once, each outcome kept.

    A host discarded before its request starts is skipped; one whose turn
    comes after the deadline is not sent to. Statuses are returned; transport
    failures end in one `BroadcastError` that keeps every response.

    With a `quorum` of k, the call is decided as soon as k hosts have answered
    2xx (their responses, in the order they arrived, are the result), or as
    soon as k of them no longer can (`BroadcastError`); the rest is cancelled.
    """

    def __init__(
        self,
        request: Request,
        hosts: Sequence[str],
        *,
        health: Health,
        timeout: Any,
        deadline: Deadline | None,
        given: Any = DEFAULT,
        record: CallRecord = NO_CALL,
        outliers: Detector | None = None,
        quorum: int | None = None,
    ) -> None:
        super().__init__(
            request,
            health=health,
            timeout=timeout,
            deadline=deadline,
            given=given,
            record=record,
            outliers=outliers,
        )
        self.hosts = hosts
        # One key per host, each written by one thread or task.
        self._outcomes: dict[str, Response | Error] = {}
        if quorum is not None:
            quorum = check_count("quorum", quorum, 1)
        # A quorum beyond the hosts is out of reach from the start (the members
        # may have shrunk since the caller chose it): nothing is sent.
        self.quorum = quorum
        self._wins: list[Response] = []  # 2xx responses, as they arrived
        self._out = 0  # hosts that can no longer count towards the quorum
        self._started: list[str] = []

    @property
    def decided(self) -> bool:
        """Whether a quorum broadcast is settled (reached, or out of reach)."""
        quorum = self.quorum
        return quorum is not None and (
            len(self._wins) >= quorum or len(self.hosts) - self._out < quorum
        )

    def start(self, host: str) -> Attempt | None:
        """The attempt on `host`, or None when it is not to be sent."""
        if self.quorum is not None and self.decided:
            return None
        state = self.health.get(host)
        if state is None:
            self._out += 1
            return None
        deadline = self.deadline
        if deadline is not None and deadline.expired():
            self._outcomes[host] = self._deadline_error(host, None)
            self._out += 1
            return None
        attempt = self._begin(state)
        if attempt is None:  # discarded since the call began
            self._out += 1
            return None
        self._started.append(host)
        return attempt

    def expired_now(self) -> bool:
        """Whether the deadline has passed; if so every host started that has
        not answered gets its deadline error (`expire_rest`)."""
        deadline = self.deadline
        if deadline is None or not deadline.expired():
            return False
        self.expire_rest()
        return True

    def expire_rest(self) -> None:
        """The deadline passed: every host started that has no outcome yet
        gets its deadline error."""
        for host in self._started:
            if host not in self._outcomes:
                self.expired(host)

    def answered(self, attempt: Attempt, response: Response) -> None:
        """The host answered `response` (any status)."""
        self._answer(attempt, response)
        self._outcomes[attempt.host] = response
        if self.quorum is not None:
            if 200 <= response.status < 300:
                self._wins.append(response)
            else:
                self._out += 1

    def failed(self, attempt: Attempt, error: Error) -> None:
        """The attempt raised `error`."""
        self._outcomes[attempt.host], _ = self._judge(attempt, error)
        self._out += 1

    def expired(self, host: str) -> None:
        """The deadline cut `host`'s attempt short."""
        self._outcomes[host] = self._deadline_error(host, None)
        self._out += 1

    def _missed(self) -> BroadcastError:
        """The error of a quorum out of reach."""
        assert self.quorum is not None
        if self.quorum > len(self.hosts):
            why = f"{self.what}: quorum of {self.quorum} out of reach"
            return BroadcastError(
                f"{why}: the broadcast has {len(self.hosts)} hosts",
                [NoHostAvailable(f"{why}: {len(self.hosts)} hosts to send to")],
                {},
            )
        responses: dict[str, Response] = {}
        errors: list[Error] = []
        for host in self.hosts:
            outcome = self._outcomes.get(host)
            if isinstance(outcome, Response):
                responses[host] = outcome
                if not 200 <= outcome.status < 300:
                    errors.append(StatusError(outcome, None))
            elif outcome is not None:
                errors.append(outcome)
        if not errors:
            errors.append(NoHostAvailable(f"{self.what}: no host could be sent to"))
        return BroadcastError(
            f"{self.what}: quorum of {self.quorum} of {len(self.hosts)} hosts "
            f"out of reach: {len(self._wins)} answered 2xx, {len(errors)} did "
            f"not ({', '.join(str(e.host or '?') for e in errors)})",
            errors,
            responses,
        )

    def result(self) -> list[Response]:
        """Every response in host order; or `BroadcastError` keeping them all.

        With a quorum: its first 2xx responses, in the order they arrived.
        """
        if self.quorum is not None:
            self.record.quorum(len(self._wins), self.quorum)
            if len(self._wins) >= self.quorum:
                return self._wins[: self.quorum]
            raise self._missed()
        responses: dict[str, Response] = {}
        errors: list[Error] = []
        for host in self.hosts:
            outcome = self._outcomes.get(host)
            if isinstance(outcome, Response):
                responses[host] = outcome
            elif outcome is not None:
                errors.append(outcome)
        if errors:
            raise BroadcastError(
                f"{len(errors)} of {len(self.hosts)} hosts failed: "
                + ", ".join(getattr(e, "host", "?") for e in errors),
                errors,
                responses,
            )
        return list(responses.values())
