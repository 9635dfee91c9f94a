"""Profiles of the scenarios behind missed targets.

Each scenario runs in a fresh process under py-spy, sampling whichever thread
holds the GIL (so: CPU time, in every thread, none of the waiting); without
py-spy, under pyinstrument in this process (the calling thread only).
`python -m benchmarks.profiles SCENARIO ARGS_JSON` runs one scenario.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

import jsonrest

from .servers import ROOT

PATH = "/item.json"
_WAITING = ("selectors.py", "asyncio/base_events.py")
_GROUPS = (
    ("jsonrest", ("jsonrest/",)),
    ("httpx", ("httpx/",)),
    ("httpcore / h11", ("httpcore/", "h11/")),
    ("aiohttp", ("aiohttp/", "httpx_aiohttp/", "yarl/", "multidict/")),
    ("anyio / asyncio / trio", ("anyio/", "asyncio/", "trio/", "selectors")),
    ("threads", ("threading", "concurrent/")),
)


# Scenarios ----------------------------------------------------------------


def sync_get(host: str, n: int) -> None:
    """Sequential Resource.get on one host."""
    with jsonrest.Resource(host) as resource:
        for _ in range(n):
            resource.get(PATH)


def async_get(host: str, n: int, backend: str) -> None:
    """Sequential AsyncResource.get on one host."""

    async def main() -> None:
        async with jsonrest.AsyncResource(host) as resource:
            for _ in range(n):
                await resource.get(PATH)

    anyio.run(main, backend=backend)


def async_unicast(
    hosts: list[str], n: int, tasks: int, fast: bool = False, backend: str = "asyncio"
) -> None:
    """AsyncResources.unicast with `tasks` concurrent tasks."""
    from .overhead import _fast, cluster, throughput

    async def main() -> None:
        options = {"transport": _fast} if fast else {}
        call, close = cluster(hosts, **options)()
        try:
            await throughput(call, n, tasks)
        finally:
            await close()

    anyio.run(main, backend=backend)


def sync_unicast(hosts: list[str], n: int) -> None:
    """Sequential Resources.unicast()() over `hosts`."""
    with jsonrest.Resources(hosts) as cluster:
        for _ in range(n):
            cluster.unicast("GET", PATH)()


def mock_unicast(n: int) -> None:
    """Sequential Resources.unicast()() over 4 hosts on httpx.MockTransport."""
    import httpx

    from .overhead import MOCK_HOSTS, _mock_handler

    mock = httpx.MockTransport(_mock_handler)
    with jsonrest.Resources(MOCK_HOSTS, transport=mock) as cluster:
        for _ in range(n):
            cluster.unicast("GET", PATH)()


def broadcast(hosts: list[str], n: int, mode: str) -> None:
    """`n` broadcasts to every host, sync or async (asyncio or trio)."""
    if mode == "sync":
        with jsonrest.Resources(hosts) as cluster:
            for _ in range(n):
                cluster.broadcast("GET", PATH)
        return

    async def main() -> None:
        async with jsonrest.AsyncResources(hosts) as cluster:
            for _ in range(n):
                await cluster.broadcast("GET", PATH)

    anyio.run(main, backend=mode)


def cover(keys: int, hosts: int, replicas: int, kind: str, n: int) -> None:
    """`n` covers of one placement."""
    from jsonrest._cover import minimal_cover

    from .cover import placement

    choices = placement(kind, hosts, replicas, keys, random.Random(42))
    priority = dict.fromkeys(range(hosts), 0)
    for seed in range(n):
        minimal_cover(choices, priority, rng=random.Random(seed))


SCENARIOS: dict[str, Callable[..., None]] = {
    "sync_get": sync_get,
    "async_get": async_get,
    "async_unicast": async_unicast,
    "sync_unicast": sync_unicast,
    "mock_unicast": mock_unicast,
    "broadcast": broadcast,
    "cover": cover,
}


# Profiling ----------------------------------------------------------------


def _py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found if Path(found).exists() else None


def _with_py_spy(
    spy: str, scenario: str, kwargs: dict[str, Any]
) -> tuple[Counter[tuple[str, str]], str]:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "stacks.txt"
        subprocess.run(
            [
                spy,
                "record",
                "--gil",
                "--rate",
                "1000",
                "--format",
                "raw",
                "-o",
                str(raw),
                "--",
                sys.executable,
                "-m",
                "benchmarks.profiles",
                scenario,
                json.dumps(kwargs),
            ],
            capture_output=True,
            timeout=300,
            check=True,
            cwd=ROOT,
        )
        lines = raw.read_text().splitlines()
    selves: Counter[tuple[str, str]] = Counter()
    marker = f"{scenario} (benchmarks/profiles.py"
    for line in lines:
        stack, _, count = line.rpartition(" ")
        # Only the scenario itself and the threads it started: not the
        # servers starting, nor modules imported on first use.
        if marker not in stack and "concurrent/futures/thread.py" not in stack:
            continue
        if "_find_and_load" in stack:
            continue
        name, _, where = stack.rsplit(";", 1)[-1].partition(" (")
        selves[(name, where.rstrip(")"))] += int(count)
    return selves, "py-spy --gil, 1,000 samples/s, every thread: CPU time only"


def _with_pyinstrument(
    scenario: str, kwargs: dict[str, Any]
) -> tuple[Counter[tuple[str, str]], str]:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001, async_mode="disabled")
    profiler.start()
    try:
        SCENARIOS[scenario](**kwargs)
    finally:
        profiler.stop()
    selves: Counter[tuple[str, str]] = Counter()

    def walk(frame: Any) -> None:
        if not frame.is_synthetic:
            where = f"{frame.file_path_short}:{frame.line_no}"
            selves[(frame.function, where)] += round(frame.total_self_time * 1000)
        for child in frame.children:
            walk(child)

    if profiler.last_session is not None:
        root = profiler.last_session.root_frame()
        if root is not None:
            walk(root)
    for key in [k for k in selves if k[1].startswith(_WAITING)]:
        del selves[key]  # the event loop waiting for the network
    return selves, "pyinstrument, 1 ms interval, this thread only (py-spy not found)"


def profile(scenario: str, top: int = 15, **kwargs: Any) -> str:
    """The profile of one scenario as text: shares by library, hottest functions."""
    spy = _py_spy()
    if spy:
        try:
            selves, how = _with_py_spy(spy, scenario, kwargs)
        except (OSError, subprocess.SubprocessError) as exc:
            print(f"py-spy failed ({exc}); using pyinstrument", flush=True)
            selves, how = _with_pyinstrument(scenario, kwargs)
    else:
        selves, how = _with_pyinstrument(scenario, kwargs)
    # By function: a sampled line is not where its function starts, and one
    # function's lines belong together. The most sampled line is kept as a hint.
    functions: Counter[tuple[str, str]] = Counter()
    hottest: dict[tuple[str, str], tuple[int, str]] = {}
    for (name, where), count in selves.items():
        path, _, line = where.rpartition(":")
        key = (name, path or where)
        functions[key] += count
        if count > hottest.get(key, (-1, ""))[0]:
            hottest[key] = (count, line)
    selves = Counter(
        {
            (name, f"{path}:{hottest[(name, path)][1]}"): n
            for (name, path), n in functions.items()
        }
    )
    total = sum(selves.values()) or 1
    shares = []
    for group, prefixes in _GROUPS:
        count = sum(n for (_, where), n in selves.items() if where.startswith(prefixes))
        shares.append(f"{group} {count / total:.0%}")
    ranked = selves.most_common()
    mine = [entry for entry in ranked if entry[0][1].startswith("jsonrest/")][:8]

    def row(entry: tuple[tuple[str, str], int]) -> str:
        (name, where), count = entry
        return f"  {count / total:6.1%}  {name}  {where}"

    return "\n".join(
        [
            f"{how}; {total:,} samples.",
            "Share by library (self time): " + ", ".join(shares),
            "",
            f"top {top} functions by self time:",
            *map(row, ranked[:top]),
            "",
            "jsonrest's own functions:",
            *map(row, mine),
        ]
    )


if __name__ == "__main__":
    SCENARIOS[sys.argv[1]](**json.loads(sys.argv[2]))
