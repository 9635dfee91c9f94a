"""Checks and tasks: `nox` runs lint, typing, unasync and tests."""

from __future__ import annotations

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
# dnspython: jsonrest[dns], and the real DNS server of the discovery tests.
TEST_DEPS = ["pytest", "respx", "trio", "hypothesis", "dnspython"]

nox.options.sessions = ["lint", "typing", "unasync", "tests"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite, on each supported Python, async tests on asyncio and trio."""
    session.install(".", *TEST_DEPS)
    session.run("pytest", *session.posargs)


@nox.session
def soak(session: nox.Session) -> None:
    """The long fault campaign: about 10 minutes on threads, asyncio and trio.

    `nox -s soak -- 120` runs 120 s in all instead. The header and each
    campaign's closing table go to tests/reliability/SOAK.md.
    """
    import datetime
    import pathlib

    session.install(".", *TEST_DEPS)
    total = float(session.posargs[0]) if session.posargs else 600.0
    each = total / 3  # the campaign runs once per runtime
    version = session.run(
        "python", "-c", "import platform; print(platform.python_version())", silent=True
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    pathlib.Path("tests/reliability/SOAK.md").write_text(
        "# Soak: the fault campaign, long\n\n"
        f"{now:%Y-%m-%d %H:%M} UTC, Python {str(version).strip()}, {each:.0f} s on "
        "each of threads, asyncio and trio (`nox -s soak`).\n\n"
    )
    session.run(
        "pytest",
        "-q",
        "-s",
        "tests/reliability/_sync/test_campaign.py",
        "tests/reliability/_async/test_campaign.py",
        env={"JSONREST_SOAK_SECONDS": str(each)},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check (the generated twin is linted, not formatted)."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install(".[testing]", "mypy", "exceptiongroup", "trio", "pytest")
    session.run("mypy", "--strict", "jsonrest")


@nox.session
def unasync(session: nox.Session) -> None:
    """Fail when the generated sync twin is stale."""
    session.run("python", "scripts/unasync.py", "--check")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the docs site with mkdocs --strict (API pages from docstrings)."""
    session.install(".[testing]", "mkdocs", "mkdocstrings[python]")
    session.run("python", "scripts/docs_results.py")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")


@nox.session
def demo(session: nox.Session) -> None:
    """Start JSON servers on 127.0.0.1 and show real calls against them."""
    session.install(".")
    session.run("python", "-m", "jsonrest", "demo")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against raw httpx and peers; writes benchmarks/RESULTS.md.

    Starts nginx (installing Debian's package when missing and run as root) or
    a Python server on 127.0.0.1. `nox -s bench -- --quick` for a smoke run
    (written to a temporary directory), `-- --parts 1,3` for some parts only;
    `python -m benchmarks.smoke` checks the servers and clients in seconds.
    """
    session.install(
        ".[fast]",
        "trio",
        "requests",
        "aiohttp",
        "elastic-transport",
        "matplotlib",
        "pyinstrument",
        "py-spy",
    )
    session.run("python", "-m", "benchmarks", *session.posargs)
