"""Checks and tasks. `nox` runs what CI runs:

- lint, typing, unasync: the code as written;
- dist: the wheel and the sdist, each installed into a fresh venv on 3.10 and
  on 3.13, and the suite run against the installed package (the oldest and
  the newest Python test what users install);
- minimums: the suite on 3.10 with the lowest version of every dependency;
- docs: the site builds with --strict.

That is five runs of the suite: on 2 cores about 4 minutes each in one
process, about 2 with JSONREST_TEST_WORKERS=3. `nox -s tests` runs it against
the checkout on every Python, 3.11 and 3.12 included (add "tests-3.11" and
"tests-3.12" to the list below to have CI run them too). A Python that is
not installed is skipped (where CI is set, nox fails instead), and nox says so
loudly at the end.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import sys
import tarfile
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
OLDEST, NEWEST = PYTHONS[0], PYTHONS[-1]
# dnspython: jsonrest[dns], and the real DNS server of the discovery tests.
TEST_DEPS = [
    "pytest",
    "pytest-xdist",
    "respx",
    "trio",
    "hypothesis",
    "dnspython",
    "opentelemetry-sdk",
    "opentelemetry-instrumentation-httpx",
]
# One process by default: the suite's deadline and latency tests are judged
# against the clock, and workers sharing 2 cores stretch it. Set
# JSONREST_TEST_WORKERS=3 for a faster local run (pytest-xdist).
PARALLEL = ["-n", os.environ.get("JSONREST_TEST_WORKERS", "0")]

nox.options.sessions = [
    "lint",
    "typing",
    "unasync",
    "dist",
    "minimums",
    "docs",
]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite against the checkout, async tests on asyncio and trio."""
    session.install(".", *TEST_DEPS)
    session.run("pytest", *PARALLEL, *session.posargs)


@nox.session(python=[OLDEST, NEWEST])
@nox.parametrize(
    "artifact", [nox.param("wheel", id="wheel"), nox.param("sdist", id="sdist")]
)
def dist(session: nox.Session, artifact: str) -> None:
    """Build the wheel and the sdist; install one into this fresh venv and run
    the suite against the installed package, not the checkout.

    The wheel is tested with the checkout's tests, the sdist with the tests it
    carries (so it must carry all they need). pytest runs from an empty
    directory with `--import-mode=append`, so `import jsonrest` (and
    `python -m jsonrest` in a subprocess) finds the installed package; a test
    checks that it did.
    """
    tmp = Path(session.create_tmp()).resolve()
    for old in ("dist", "src", "cwd"):
        shutil.rmtree(tmp / old, ignore_errors=True)
    session.install("build", "twine")
    session.run("python", "-m", "build", "--outdir", str(tmp / "dist"), str(ROOT))
    (sdist,) = (tmp / "dist").glob("jsonrest-*.tar.gz")
    (wheel,) = (tmp / "dist").glob("jsonrest-*.whl")
    # What a package index would say of the metadata and the README.
    session.run("twine", "check", "--strict", str(sdist), str(wheel))
    if artifact == "wheel":
        package, source = wheel, ROOT
    else:
        with tarfile.open(sdist) as archive:
            archive.extractall(tmp / "src", filter="data")
        (source,) = (tmp / "src").iterdir()
        package = sdist
    session.install(*TEST_DEPS)
    # Not from pip's cache: it keeps the wheel it built from an sdist of the
    # same name and version, and would install yesterday's code.
    session.install("--no-cache-dir", f"jsonrest[testing,trio] @ {package.as_uri()}")
    (tmp / "cwd").mkdir()
    session.chdir(tmp / "cwd")
    session.run("python", "-c", "import jsonrest; print('testing', jsonrest.__file__)")
    session.run(
        "pytest",
        "--import-mode=append",
        "-p",
        "no:cacheprovider",
        *PARALLEL,
        *session.posargs,
        str(source / "tests"),
        env={"JSONREST_TEST_INSTALLED": "1"},
    )


def _minimums() -> list[str]:
    """Every dependency in pyproject.toml (extras included) pinned to its lowest
    allowed version: `httpx>=0.27` becomes `httpx==0.27`."""
    project = nox.project.load_toml(ROOT / "pyproject.toml")["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += extra
    pins = []
    for requirement in declared:
        pin, count = re.subn(r">=\s*", "==", requirement)
        if count != 1:
            raise ValueError(f"{requirement!r}: give one lowest version (>=)")
        pins.append(pin)
    return pins


@nox.session(python=OLDEST)
def minimums(session: nox.Session) -> None:
    """The suite with the lowest version of every dependency in pyproject.toml,
    on the oldest Python; then jsonrest.testing with the lowest respx and the
    newest httpx, the pair that breaks when respx's floor is too low."""
    # One resolution, so that test tools tied to a dependency (the
    # OpenTelemetry SDK to its API) come in the versions that match the floors.
    session.install(".", *TEST_DEPS, *_minimums())
    session.run("python", "-m", "pip", "list")
    session.run("pytest", *PARALLEL, *session.posargs)
    session.install("--upgrade", "httpx")
    session.run(
        "pytest",
        "tests/test_testing.py",
        "tests/test_examples.py",
        "tests/_async/test_respx.py",
        "tests/_sync/test_respx.py",
        *session.posargs,
    )


@nox.session
def soak(session: nox.Session) -> None:
    """The long fault campaign: about 10 minutes on threads, asyncio and trio.

    `nox -s soak -- 120` runs 120 s in all instead. The header and each
    campaign's closing table go to tests/reliability/SOAK.md.
    """
    import datetime

    session.install(".", *TEST_DEPS)
    total = float(session.posargs[0]) if session.posargs else 600.0
    each = total / 3  # the campaign runs once per runtime
    version = session.run(
        "python", "-c", "import platform; print(platform.python_version())", silent=True
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    (ROOT / "tests/reliability/SOAK.md").write_text(
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
    session.install(".[testing,otel]", "mypy", "exceptiongroup", "trio", "pytest")
    session.run("mypy", "--strict", "jsonrest")


@nox.session
def unasync(session: nox.Session) -> None:
    """Fail when the generated sync twin is stale."""
    session.run("python", "scripts/unasync.py", "--check")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the docs site with mkdocs --strict (API pages from docstrings)."""
    session.install(".[testing]", "mkdocs", "mkdocstrings[python]", "ruff")
    session.run("python", "scripts/docs_results.py")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")


@nox.session
def demo(session: nox.Session) -> None:
    """Start a JSON cluster on 127.0.0.1 and show real calls against it, on
    threads, asyncio and trio. `nox -s demo -- --serve --port 8001` keeps the
    cluster up for trying the `jsonrest` command (docs/cli.md)."""
    session.install(".[trio]")
    session.run("python", "-m", "demo", *session.posargs)


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
        "opentelemetry-sdk",
    )
    session.run("python", "-m", "benchmarks", *session.posargs)


# Saying loudly what did not run -------------------------------------------------


class _Skips(logging.Handler):
    """Notes each session nox skips for want of its Python, from the line nox
    logs as it ends one ("Session NAME skipped: Python interpreter 3.10 not
    found.")."""

    def __init__(self) -> None:
        super().__init__()
        self.skipped: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = re.match(
            r"Session (\S+) skipped: (.*interpreter.*)", record.getMessage()
        )
        if match:
            why = re.sub(r" \(took [^)]*\)$", "", match.group(2).rstrip("."))
            self.skipped.append(f"{match.group(1)}: {why}")


def _say_what_was_skipped(skips: _Skips) -> None:
    """After the run, name every session that did not run, in a box."""
    if not skips.skipped:
        return
    rule = "!" * 78
    count = len(skips.skipped)
    print(
        f"\n{rule}\nnox SKIPPED {count} session(s); their checks did NOT run:\n"
        + "".join(f"    {line}\n" for line in skips.skipped)
        + "Install the missing Pythons and put them all on PATH (with pyenv:\n"
        "PYENV_VERSION=<one>:<another>:...), or rely on CI, where a missing\n"
        f"Python is an error.\n{rule}",
        file=sys.stderr,
    )


_SKIPS = _Skips()
logging.getLogger("nox").addHandler(_SKIPS)
atexit.register(_say_what_was_skipped, _SKIPS)
