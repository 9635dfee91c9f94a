"""Hand-written async/sync pairs for the reliability tests (see scripts/unasync.py)."""

from __future__ import annotations

import asyncio
import threading
import time

import anyio
import sniffio


async def async_sleep(seconds: float) -> None:
    """Sleep without blocking the event loop."""
    await anyio.sleep(seconds)


def sleep(seconds: float) -> None:
    """Sleep the calling thread."""
    time.sleep(seconds)


def async_runtime() -> str:
    """What runs the async twin: asyncio or trio."""
    return str(sniffio.current_async_library())


def runtime() -> str:
    """What runs the blocking twin."""
    return "threads"


def async_task_count() -> int:
    """Tasks alive on asyncio (trio's structure leaves nothing to count: 0)."""
    if sniffio.current_async_library() == "asyncio":
        return len(asyncio.all_tasks())
    return 0


def task_count() -> int:
    """Threads are counted separately; a blocking caller has no tasks."""
    return 0


def async_threads() -> int:
    """0: an event loop's resolver threads belong to the runtime, not to jsonrest."""
    return 0


def threads() -> int:
    """Threads alive: what the blocking twin must give back."""
    return threading.active_count()
