"""The public surface: names, docstrings, the package as installed, the README."""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import jsonrest
from jsonrest import _exceptions
from tests.servers import JSONServer

ROOT = Path(__file__).resolve().parent.parent
INSTALLED = bool(os.environ.get("JSONREST_TEST_INSTALLED"))


def test_all_is_complete_and_sorted() -> None:
    public = {name for name in dir(jsonrest) if not name.startswith("_")}
    public -= {"annotations"}
    modules = {name for name in public if inspect.ismodule(getattr(jsonrest, name))}
    assert set(jsonrest.__all__) == public - modules
    assert jsonrest.__all__ == sorted(jsonrest.__all__)


@pytest.mark.parametrize("name", jsonrest.__all__)
def test_every_public_name_has_a_docstring(name: str) -> None:
    obj = getattr(jsonrest, name)
    assert inspect.getdoc(obj)
    if inspect.isclass(obj):
        for attr, member in vars(obj).items():
            if not attr.startswith("_") and callable(member):
                assert inspect.getdoc(member), f"{name}.{attr}"


def test_errors_share_a_base() -> None:
    for name in _exceptions.__all__:
        assert issubclass(getattr(jsonrest, name), jsonrest.Error)


def test_broadcast_error_is_an_exception_group() -> None:
    if sys.version_info < (3, 11):
        from exceptiongroup import ExceptionGroup
    else:
        ExceptionGroup = (
            __builtins__["ExceptionGroup"]
            if isinstance(__builtins__, dict)
            else __builtins__.ExceptionGroup
        )
    response = jsonrest.Response(200, host="b")
    a = jsonrest.TransportError("down", host="a")
    c = jsonrest.Timeout("slow", host="c")
    error = jsonrest.BroadcastError("2 of 3 hosts failed", [a, c], {"b": response})
    assert isinstance(error, ExceptionGroup)
    assert error.responses == {"b": response}
    timeouts, rest = error.split(jsonrest.Timeout)
    assert isinstance(timeouts, jsonrest.BroadcastError)
    assert timeouts.exceptions == (c,)
    assert timeouts.responses == {"b": response}
    assert rest is not None
    assert rest.exceptions == (a,)


@pytest.mark.skipif(not INSTALLED, reason="nox -s dist: the installed package")
def test_the_installed_package_is_under_test() -> None:
    """`nox -s dist` runs the suite against the wheel or the sdist it installed:
    here, and in a subprocess as the CLI tests start one, jsonrest must come
    from site-packages, not from a source tree."""
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    here = Path(jsonrest.__file__).resolve()
    assert here.is_relative_to(site), here
    assert not here.is_relative_to(ROOT / "jsonrest"), here
    found = subprocess.run(
        [sys.executable, "-c", "import jsonrest; print(jsonrest.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert Path(found).resolve() == here
    # The installed modules are this source tree's (not a stale build).
    for module in sorted((ROOT / "jsonrest").rglob("*.py")):
        installed = here.parent / module.relative_to(ROOT / "jsonrest")
        assert installed.read_bytes() == module.read_bytes(), installed
    metadata = importlib.metadata.metadata("jsonrest")
    assert metadata["Version"] == jsonrest.__version__
    assert metadata["License-Expression"] == "Apache-2.0"
    files = importlib.metadata.files("jsonrest") or []
    names = {str(file) for file in files}
    assert "jsonrest/py.typed" in names
    assert not any(name.startswith(("demo/", "tests/")) for name in names)


def test_the_license_file_is_the_declared_license() -> None:
    assert "Apache License\n" in (ROOT / "LICENSE").read_text()
    assert "Version 2.0, January 2004" in (ROOT / "LICENSE").read_text()


def test_readme_links_work_on_a_package_index() -> None:
    """A package index shows the README without the repository around it:
    every link must be absolute."""
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", readme)
    links += re.findall(r"^\[[^\]]+\]:\s*(\S+)", readme, re.MULTILINE)
    assert links
    for link in links:
        assert link.startswith("https://"), link
    assert "example.invalid" not in readme


def test_the_fast_transport_extra(server: JSONServer) -> None:
    """`jsonrest[fast]`: httpx-aiohttp as the transport of AsyncResources
    (installed by `nox -s minimums`, at its lowest version)."""
    httpx_aiohttp = pytest.importorskip("httpx_aiohttp")
    import anyio

    async def main() -> object:
        transport = httpx_aiohttp.AiohttpTransport()
        async with jsonrest.AsyncResources([server.host], transport=transport) as many:
            response = await many.unicast("GET", "/echo", params={"q": "plum"})
            return response()

    body = anyio.run(main)
    assert isinstance(body, dict)
    assert (body["method"], body["query"]) == ("GET", {"q": ["plum"]})
