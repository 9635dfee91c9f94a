"""Every Python example in README.md and docs/*.md runs, and so does the demo.

The convention, so examples read as real code and still run without servers:

- An example that imports `jsonrest.testing` sets up its own fake hosts and
  runs as it is.
- An example that defines `test_*` functions is a pytest example: it runs,
  then each test is called with the fixtures it names (`jsonrest_cluster`, a
  MockCluster factory; `respx_mock`, the respx router), all on one router.
- Any other example runs against a MockCluster holding every host literal it
  contains (a quoted `name:port` or `http(s)://name:port`); each host answers
  every request with 200 and `{"host": ...}`. So write hosts with a port.

Blocks tagged `sh`, `text` or anything but `python` are not run. An example
that sets OpenTelemetry's global providers (which a process can set once)
runs in a process of its own, in tests/test_telemetry.py.
docs/results.md is a copy of benchmarks/RESULTS.md made by `nox -s docs`, not
documentation source, so it is skipped.
"""

from __future__ import annotations

import inspect
import logging
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
import respx

from jsonrest.testing import MockCluster
from tests.test_cli import run

ROOT = Path(__file__).resolve().parent.parent
GENERATED = {"results.md"}
FILES = [
    ROOT / "README.md",
    *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name not in GENERATED),
]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
HOST = re.compile(r"""["']((?:https?://)?[A-Za-z][\w.-]*:\d{2,5})["']""")

EXAMPLES = [
    pytest.param(code, id=f"{path.name}:{text[: match.start()].count(chr(10)) + 1}")
    for path in FILES
    if path.exists()
    for text in [path.read_text()]
    for match in BLOCK.finditer(text)
    for code in [match.group(1)]
    if "set_tracer_provider" not in code
]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """An example may configure logging; leave the next test as it was."""
    root, ours = logging.getLogger(), logging.getLogger("jsonrest")
    saved = root.handlers[:], root.level, ours.level
    yield
    for handler in root.handlers[:]:
        if handler not in saved[0]:
            root.removeHandler(handler)
    root.setLevel(saved[1])
    ours.setLevel(saved[2])


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 12


def test_host_literals_are_found() -> None:
    code = 'Resources(["a-1:80", "https://b.example:9243"]); get("/x:1")'
    assert HOST.findall(code) == ["a-1:80", "https://b.example:9243"]


def _fixtures(router: respx.MockRouter) -> dict[str, object]:
    def factory(hosts: Iterable[str]) -> MockCluster:
        return MockCluster(hosts, router=router)

    return {"jsonrest_cluster": factory, "respx_mock": router}


@pytest.mark.parametrize("code", EXAMPLES)
def test_example_runs(code: str) -> None:
    namespace: dict[str, object] = {"__name__": "example"}
    is_test = "def test_" in code
    if "jsonrest.testing" in code and not is_test:
        exec(compile(code, "example", "exec"), namespace)  # it mocks by itself
        return
    with respx.mock(assert_all_called=False) as router:
        if not is_test:
            cluster = MockCluster(sorted(set(HOST.findall(code))), router=router)
            for fake in cluster:
                fake.route("*", "*", json={"host": fake.host})
        exec(compile(code, "example", "exec"), namespace)
        fixtures = _fixtures(router)
        tests = [f for name, f in namespace.items() if name.startswith("test_")]
        for test in tests:
            assert callable(test)
            call: Callable[..., object] = test
            wanted = inspect.signature(call).parameters
            call(**{name: fixtures[name] for name in wanted})


def test_the_demo_runs(capfd: pytest.CaptureFixture[str]) -> None:
    from demo.__main__ import main

    assert main([]) == 0
    out = capfd.readouterr().out
    for part in (
        "One host: Resource",
        "Resources",
        "failing over",
        "Shards.multicast",
        "[trio]",
        "The command line",
        "2 hosts, 2 ok, 0 failed",
        "(exit status 0)",
    ):
        assert part in out
    assert "not installed" not in out


@pytest.mark.skipif(sys.platform == "win32", reason="stops the demo with SIGINT")
def test_the_cli_against_demo_serve() -> None:
    """A new user's first session: start the demo cluster, then query it.

    The demo runs as `python -m demo --serve` would, but with the checkout
    last on sys.path, so that jsonrest is the one under test (installed or not).
    """
    # SIGINT stops it, as Ctrl-C would; a shell that started this run in the
    # background ignores SIGINT in its children, so the handler is restored.
    code = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler)"
        f"; sys.path.append({str(ROOT)!r}); from demo.__main__ import main"
    )
    demo = subprocess.Popen(
        [sys.executable, "-c", f"{code}; sys.exit(main(['--serve']))"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert demo.stdout is not None
    threading.Thread(
        target=lambda: [lines.put(line) for line in demo.stdout or ()], daemon=True
    ).start()
    try:
        banner = lines.get(timeout=30)
        hint = lines.get(timeout=30)
        assert banner.startswith("demo cluster on ")
        hosts = banner.split(" on ", 1)[1].split(" (", 1)[0].split()
        assert len(hosts) == 3
        assert all(host.startswith("127.0.0.1:") for host in hosts)
        argv = hint.removeprefix("try: jsonrest ").split()
        status, out, err = run(*argv)
        assert (status, err) == (0, "")
        for host in hosts:
            assert f"== {host}: 200 OK (" in out
        assert "3 hosts, 3 ok, 0 failed, slowest 127.0.0.1:" in out
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            _, stderr = demo.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.communicate()  # reaps it and closes its pipes
            raise
    assert demo.returncode == 0
    assert "Traceback" not in stderr
