"""What truly differs between the twins, as hand-written async and sync pairs.

The generated sync twin only renames `AsyncWorkers` to `Workers`, `AsyncGate`
to `Gate`, `async_cancel_after` to `cancel_after`, `async_shield` to `shield`
and `async_running_loop` to `running_loop`; the rest is shared code.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import anyio
import httpx

__all__ = [
    "AsyncGate",
    "AsyncWorkers",
    "Gate",
    "NoScope",
    "Workers",
    "async_cancel_after",
    "async_running_loop",
    "async_shield",
    "cancel_after",
    "running_loop",
    "shield",
]

T = TypeVar("T")
Outcome = Any  # a call's result, or the Exception it raised


class AsyncWorkers:
    """Runs calls concurrently in an anyio task group (asyncio or trio)."""

    def __init__(self, max_workers: int | None = None) -> None:
        # A task costs little, so the async twin needs no cap; the argument keeps
        # both twins' signatures alike.
        self.max_workers = max_workers

    async def gather(
        self, calls: Sequence[Callable[[], Awaitable[T]]]
    ) -> list[Outcome]:
        """Run every call at once; return each result or the Exception it raised.

        Cancellation (and any BaseException) propagates and cancels the rest.
        """
        results: list[Outcome] = [None] * len(calls)

        async def run(index: int, call: Callable[[], Awaitable[T]]) -> None:
            try:
                results[index] = await call()
            except Exception as exc:
                results[index] = exc

        if len(calls) == 1:
            await run(0, calls[0])
            return results
        async with anyio.create_task_group() as group:
            for index, call in enumerate(calls):
                group.start_soon(run, index, call)
        return results

    def close(self) -> None:
        """Nothing to release: tasks end with their task group."""


class Workers:
    """Runs calls concurrently on a bounded thread pool, created on first use.

    The pool grows on demand up to `max_workers` threads; a wider call queues the
    rest, so it takes about ceil(calls / max_workers) times the slowest call.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = 64 if max_workers is None else max_workers
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                # A call that raced with close() must not start a new pool
                # that nothing would ever shut down.
                raise RuntimeError("the worker pool is closed")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.max_workers, thread_name_prefix="jsonrest"
                )
            return self._pool

    def gather(self, calls: Sequence[Callable[[], T]]) -> list[Outcome]:
        """Run every call at once; return each result or the Exception it raised.

        The calling thread runs the first call itself, so a broadcast to one host
        uses no thread at all.
        """
        if not calls:
            return []
        pool = self._executor() if len(calls) > 1 else None
        futures: list[Future[T]] = (
            [pool.submit(call) for call in calls[1:]] if pool else []
        )
        results: list[Outcome] = [None] * len(calls)
        try:
            results[0] = calls[0]()
        except Exception as exc:
            results[0] = exc
        for index, future in enumerate(futures, 1):
            try:
                results[index] = future.result()
            except Exception as exc:
                results[index] = exc
        return results

    def close(self) -> None:
        """Stop the threads once the calls they run have ended."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


class AsyncGate:
    """Lets at most `limit` callers through at once; the others wait their turn.

    Waiting longer than `timeout` seconds (or the time a caller has left)
    raises `httpx.PoolTimeout`, like a full httpx pool: nothing was sent, and
    it is not the host's fault.
    """

    def __init__(self, limit: int, timeout: float | None) -> None:
        self.limit = limit
        self.timeout = timeout
        self._semaphore: anyio.Semaphore | None = None
        self._loop: object = None  # the event loop the semaphore belongs to

    @asynccontextmanager
    async def turn(self, within: float | None = None) -> AsyncIterator[None]:
        """Wait for a turn, at most `within` seconds as well as `timeout`."""
        semaphore = self._semaphore
        loop = async_running_loop()
        if semaphore is None or loop is not self._loop:
            # Made on first use inside the event loop that uses it, and again
            # in the next one (an instance used by two at once is refused).
            semaphore = self._semaphore = anyio.Semaphore(self.limit)
            self._loop = loop
        wait = _wait(self.timeout, within)
        with anyio.move_on_after(wait) as scope:
            await semaphore.acquire()
        if scope.cancelled_caught:
            raise httpx.PoolTimeout(f"no turn within {wait:.3g} s")
        try:
            yield
        finally:
            semaphore.release()


class Gate:
    """Lets at most `limit` threads through at once; the others wait their turn.

    Waiting longer than `timeout` seconds (or the time a caller has left)
    raises `httpx.PoolTimeout`, like a full httpx pool: nothing was sent, and
    it is not the host's fault.
    """

    def __init__(self, limit: int, timeout: float | None) -> None:
        self.limit = limit
        self.timeout = timeout
        self._semaphore = threading.BoundedSemaphore(limit)

    @contextmanager
    def turn(self, within: float | None = None) -> Iterator[None]:
        """Wait for a turn, at most `within` seconds as well as `timeout`."""
        wait = _wait(self.timeout, within)
        if not self._semaphore.acquire(timeout=wait):
            raise httpx.PoolTimeout(f"no turn within {wait:.3g} s")
        try:
            yield
        finally:
            self._semaphore.release()


def _wait(timeout: float | None, within: float | None) -> float | None:
    if within is None:
        return timeout
    within = max(within, 0.0)
    return within if timeout is None else min(timeout, within)


class NoScope:
    """The sync stand-in for a cancel scope: threads cannot be cancelled."""

    cancelled_caught = False

    def __enter__(self) -> NoScope:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


def async_running_loop() -> object:
    """The event loop running the current task: a trio run's `TrioToken` or an
    asyncio loop, the same object for the whole run; None outside both."""
    # trio names itself to sniffio (a dependency of trio) in every task step,
    # guest mode included: a cheap test, done first, as the host loop of a
    # trio guest run is an asyncio loop that outlives the run.
    sniffio = sys.modules.get("sniffio")
    if sniffio is not None and sniffio.thread_local.name == "trio":
        try:
            return sys.modules["trio"].lowlevel.current_trio_token()
        except RuntimeError:  # not in a trio run after all
            pass
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def running_loop() -> object:
    """A blocking call runs in no event loop: None."""
    return None


def async_shield() -> anyio.CancelScope:
    """A scope that cancellation from outside cannot interrupt: for cleanup."""
    return anyio.CancelScope(shield=True)


def shield() -> NoScope:
    """Nothing interrupts a thread: there is nothing to shield it from."""
    return NoScope()


def async_cancel_after(seconds: float | None) -> anyio.CancelScope | NoScope:
    """A scope that cancels what runs inside it after `seconds` (None: never)."""
    if seconds is None:
        return NoScope()  # a cancel scope costs microseconds that buy nothing here
    return anyio.move_on_after(seconds)


def cancel_after(seconds: float | None) -> NoScope:
    """Nothing to cancel in a thread: each attempt gets only the time left instead."""
    return NoScope()
