"""What truly differs between the twins, as hand-written async and sync pairs.

The generated sync twin only renames `AsyncWorkers` to `Workers`, `AsyncGate`
to `Gate`, `async_race` to `race`, `async_cancel_after` to `cancel_after`,
`async_shield` to `shield`, `async_running_loop` to `running_loop`,
`AsyncBackground` to `Background`, `async_in_thread` to `in_thread`,
`async_call_source` to `call_source` and `async_check_callable` to
`check_callable`; the rest is shared code.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import queue
import sys
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import anyio
import anyio.abc
import httpx

__all__ = [
    "AsyncBackground",
    "AsyncGate",
    "AsyncRace",
    "AsyncWorkers",
    "Background",
    "Gate",
    "NoScope",
    "Race",
    "Workers",
    "async_call_source",
    "async_cancel_after",
    "async_check_callable",
    "async_in_thread",
    "async_race",
    "async_running_loop",
    "async_shield",
    "call_source",
    "cancel_after",
    "check_callable",
    "in_thread",
    "race",
    "running_loop",
    "shield",
]

log = logging.getLogger("jsonrest")

T = TypeVar("T")
Outcome = Any  # a call's result, or the Exception it raised
#: What a race hands back: the token a call was started with, its outcome (a
#: result, an Exception, or None for a call that never ran or was cancelled)
#: and its wall time in seconds.
Ended = tuple[Any, Outcome, float]
Left = Callable[[Any, Outcome, float], None]


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
        futures: list[Future[T]] = []
        if pool is not None:
            try:
                futures.extend(pool.submit(call) for call in calls[1:])
            except RuntimeError as exc:  # close() shut the pool down meanwhile
                for future in futures:
                    future.cancel()
                raise RuntimeError("the worker pool is closed") from exc
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

    def submit(self, call: Callable[[], Any]) -> None:
        """Run `call` on a thread of the pool (queued while all are busy)."""
        self._executor().submit(call)

    def close(self) -> None:
        """Stop the threads once the calls they run have ended."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


class AsyncRace:
    """Calls run at once in a task group, their outcomes handed back one at a
    time as they end (see `async_race`)."""

    def __init__(self, group: anyio.abc.TaskGroup, left: Left) -> None:
        self._group = group
        self._left = left
        self._send, self._receive = anyio.create_memory_object_stream[Ended](math.inf)
        self._closed = False
        #: Calls started whose outcome has not been handed back yet.
        self.running = 0

    def start(self, token: Any, call: Callable[[], Awaitable[Any]]) -> None:
        """Start `call`; its outcome comes back from `next` with `token`."""
        self.running += 1
        self._group.start_soon(self._run, token, call)

    async def _run(self, token: Any, call: Callable[[], Awaitable[Any]]) -> None:
        start = time.perf_counter()
        outcome: Outcome = None
        try:
            outcome = await call()
        except Exception as exc:
            outcome = exc
        finally:
            elapsed = time.perf_counter() - start
            if self._closed:  # cancelled as the race ended: its own report
                self._left(token, outcome, elapsed)
            else:
                self._send.send_nowait((token, outcome, elapsed))

    async def next(self, timeout: float | None) -> Ended | None:
        """The next outcome, or None when `timeout` seconds pass first."""
        with anyio.move_on_after(timeout):
            ended = await self._receive.receive()
            self.running -= 1
            return ended
        return None

    def _close(self) -> None:
        self._closed = True
        while True:
            try:
                ended = self._receive.receive_nowait()
            except anyio.WouldBlock:
                break
            self._left(*ended)
        self._send.close()
        self._receive.close()


@asynccontextmanager
async def async_race(workers: AsyncWorkers, left: Left) -> AsyncIterator[AsyncRace]:
    """Run calls at once and take their outcomes as they end, first first.

    Leaving the block cancels the calls still running and waits for them to
    end (an httpx request cancelled closes its connection); each outcome not
    taken by `next`, a cancelled call's (None) included, goes to `left`.
    """
    error: Exception | None = None
    try:
        async with anyio.create_task_group() as group:
            race = AsyncRace(group, left)
            try:
                yield race
            except Exception as exc:  # raised as it is, not in an ExceptionGroup
                error = exc
            finally:
                race._closed = True  # a call ending from now on reports itself
                group.cancel_scope.cancel()
    finally:
        race._close()
    if error is not None:
        raise error


class Race:
    """Calls run at once on threads, their outcomes handed back one at a time
    as they end (see `race`)."""

    def __init__(self, workers: Workers, left: Left) -> None:
        self._workers = workers
        self._left = left
        self._queue: queue.SimpleQueue[Ended] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        #: Calls started whose outcome has not been handed back yet.
        self.running = 0

    def start(self, token: Any, call: Callable[[], Any]) -> None:
        """Start `call` on a thread; its outcome comes back from `next`."""
        self.running += 1
        self._workers.submit(lambda: self._run(token, call))

    def _run(self, token: Any, call: Callable[[], Any]) -> None:
        if self._closed:  # queued until after the race ended: never run
            self._left(token, None, 0.0)
            return
        start = time.perf_counter()
        outcome: Outcome
        try:
            outcome = call()
        except Exception as exc:
            outcome = exc
        elapsed = time.perf_counter() - start
        with self._lock:
            if not self._closed:
                self._queue.put((token, outcome, elapsed))
                return
        self._left(token, outcome, elapsed)  # abandoned: its own report

    def next(self, timeout: float | None) -> Ended | None:
        """The next outcome, or None when `timeout` seconds pass first."""
        try:
            ended = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        self.running -= 1
        return ended

    def _close(self) -> None:
        with self._lock:
            self._closed = True
        while True:
            try:
                ended = self._queue.get_nowait()
            except queue.Empty:
                break
            self._left(*ended)


@contextmanager
def race(workers: Workers, left: Left) -> Iterator[Race]:
    """Run calls at once on `workers`' threads and take their outcomes as they
    end, first first.

    A thread cannot be cancelled: leaving the block abandons the calls still
    running. Each runs on to its own end (bounded by its timeouts), then hands
    its outcome to `left` from its thread; one still queued for a thread then
    never runs (`left` gets None). Outcomes not taken by `next` go to `left`.
    """
    running = Race(workers, left)
    try:
        yield running
    finally:
        running._close()


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


async def async_in_thread(function: Callable[[], T], timeout: float) -> T:
    """Run a blocking `function` in a worker thread, without blocking the loop.

    The caller's cancel scope bounds it (`timeout` is for the blocking
    twin): cancelled, the caller goes on at once and the thread finishes
    alone.
    """
    return await anyio.to_thread.run_sync(function, abandon_on_cancel=True)


def in_thread(function: Callable[[], T], timeout: float) -> T:
    """Run a blocking `function` in a thread of its own, for at most `timeout`
    seconds: past them `TimeoutError`, and the thread finishes alone."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, function()))
        except BaseException as exc:
            outcome.append((False, exc))

    thread = threading.Thread(target=run, name="jsonrest-lookup", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise TimeoutError(f"no answer within {timeout:g} s (discover_timeout)")
    done, value = outcome[0]
    if not done:
        raise value
    result: T = value
    return result


def async_check_callable(source: object) -> None:
    """An awaitable twin can call any callable source."""


def check_callable(source: object) -> None:
    """`TypeError` for a coroutine function: it needs the awaitable twin."""
    if inspect.iscoroutinefunction(source) or inspect.iscoroutinefunction(
        getattr(source, "__call__", None)  # noqa: B004 (an instance's own)
    ):
        raise TypeError(
            "discover is an async function: use AsyncResources, or give "
            "Resources a blocking one"
        )


async def async_call_source(source: Callable[[], Any], timeout: float) -> Any:
    """Call a discovery source: a coroutine function is awaited, any other
    callable runs in a worker thread (it may block), and an awaitable it
    returns is awaited. The caller's cancel scope bounds it."""
    if inspect.iscoroutinefunction(source):
        return await source()
    result = await async_in_thread(source, timeout)
    if inspect.isawaitable(result):
        return await result
    return result


def call_source(source: Callable[[], Any], timeout: float) -> Any:
    """Call a discovery source in a thread, for at most `timeout` seconds; an
    awaitable answer is refused (it needs the awaitable twin)."""
    if inspect.iscoroutinefunction(source):
        raise TypeError("an async discover source needs AsyncResources")
    result = in_thread(source, timeout)
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if close is not None:
            close()  # never to be awaited: say nothing more of it
        raise TypeError("the discover source returned an awaitable: use AsyncResources")
    return result


Step = Callable[[], Any]  # one round of background work; returns seconds to wait


class AsyncBackground:
    """Runs `step` over and over in a task beside its owner's `async with`.

    `enter` opens a task group in the owner's `__aenter__` (trio has no
    task without a nursery, so there is none outside an `async with`);
    between rounds the task sleeps the seconds `step` returned, or until
    `wake`. `stop` cancels the task (at once, from anywhere in the loop);
    `leave`, in the owner's `__aexit__`, also waits for it to end and closes
    the task group. The task never raises into its owner: a round that
    raises is logged.
    """

    def __init__(self) -> None:
        self._group: anyio.abc.TaskGroup | None = None
        self._scope: anyio.CancelScope | None = None
        self._wakeup: anyio.Event | None = None
        self._stopped = False

    def running(self) -> bool:
        """Whether the task runs."""
        return self._scope is not None and not self._stopped

    def ensure(self, step: Step) -> bool:
        """Whether the task runs: it starts only on `enter`."""
        return self.running()

    async def enter(self, step: Step) -> None:
        """Start the task in a task group that `leave` closes."""
        if self._group is not None or self._stopped:
            return
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        await group.start(self._run, step)

    async def _run(
        self, step: Step, *, task_status: anyio.abc.TaskStatus[None]
    ) -> None:
        with anyio.CancelScope() as scope:
            self._scope = scope
            task_status.started()
            while True:
                self._wakeup = anyio.Event()
                try:
                    delay = await step()
                except Exception:
                    log.exception("jsonrest background task failed; going on")
                    delay = 1.0
                with anyio.move_on_after(delay):
                    await self._wakeup.wait()

    def wake(self) -> None:
        """End the current sleep now (call it from the task's event loop)."""
        wakeup = self._wakeup
        if wakeup is not None:
            wakeup.set()

    def stop(self) -> None:
        """Cancel the task; it never starts again."""
        self._stopped = True
        if self._scope is not None:
            self._scope.cancel()

    async def leave(self) -> None:
        """Stop the task, wait for it to end, and close the task group."""
        self.stop()
        group, self._group = self._group, None
        if group is not None:
            # Its only task is cancelled: this waits for it to unwind. (No
            # scope may wrap this: the group's own must be the one exited.)
            await group.__aexit__(None, None, None)


class Background:
    """Runs `step` over and over in a daemon thread, started on first need.

    Between rounds the thread sleeps the seconds `step` returned, or until
    `wake`. It holds its owner weakly: an owner dropped without `close`
    ends it at its next round. `stop` ends it and waits a moment for it
    (a round blocked in a lookup that cannot be interrupted finishes alone).
    """

    #: Seconds `stop` waits for the thread to end.
    JOIN = 5.0

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._wakeup = threading.Event()
        self._lock = threading.Lock()
        self._stopped = False

    def running(self) -> bool:
        """Whether the thread runs."""
        return self._thread is not None and not self._stopped

    def ensure(self, step: Step) -> bool:
        """Start the thread unless it runs; False once stopped."""
        if self._thread is not None:
            return not self._stopped
        with self._lock:
            if self._stopped:
                return False
            if self._thread is None:
                method = weakref.WeakMethod(step)
                self._thread = threading.Thread(
                    target=self._run,
                    args=(method,),
                    name="jsonrest-discovery",
                    daemon=True,
                )
                self._thread.start()
        return True

    def enter(self, step: Step) -> None:
        """Start the thread (as `ensure`)."""
        self.ensure(step)

    def _run(self, method: weakref.WeakMethod[Step]) -> None:
        while not self._stopped:
            self._wakeup.clear()
            step = method()
            if step is None:
                return  # its owner is gone
            try:
                delay = step()
            except Exception:
                log.exception("jsonrest background thread failed; going on")
                delay = 1.0
            del step
            self._wakeup.wait(delay)

    def wake(self) -> None:
        """End the current sleep now."""
        self._wakeup.set()

    def stop(self) -> None:
        """End the thread; it never starts again."""
        with self._lock:
            self._stopped = True
            thread = self._thread
        self._wakeup.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.JOIN)

    def leave(self) -> None:
        """Stop the thread (as `stop`)."""
        self.stop()
