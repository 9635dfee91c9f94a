"""The `jsonrest` command line, against real servers on 127.0.0.1.

The examples of docs/cli.md run here too (`test_the_docs_examples_run`),
against the demo cluster of demo/servers.py.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import jsonrest
from demo.servers import PNG, TOKEN
from demo.servers import cluster as demo_cluster
from jsonrest import _cli
from jsonrest._cli import main
from tests.servers import ClosedPort, JSONServer

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "cli.md"


class Stream(io.TextIOWrapper):
    """A text stream over bytes, as sys.stdout is; a terminal if `tty`."""

    def __init__(self, tty: bool = False) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", write_through=True)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def data(self) -> bytes:
        self.flush()
        buffer = self.buffer
        assert isinstance(buffer, io.BytesIO)
        return buffer.getvalue()


def run_bytes(*argv: str, tty: bool = False) -> tuple[int, bytes, str]:
    out, err = Stream(tty), Stream()
    status = main(list(argv), out=out, err=err)
    return status, out.data(), err.data().decode()


def run(*argv: str, tty: bool = False) -> tuple[int, str, str]:
    status, out, err = run_bytes(*argv, tty=tty)
    return status, out.decode(), err


def command(*argv: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """The real command, in a process of its own (stderr as nobody configured it)."""
    return subprocess.run(
        [sys.executable, "-m", "jsonrest", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )


@pytest.fixture
def demo() -> Iterator[list[str]]:
    with demo_cluster() as hosts:
        yield hosts


# Output -------------------------------------------------------------------------


def test_unicast_prints_compact_json_when_piped(server: JSONServer) -> None:
    status, out, err = run(
        "--host", server.host, "GET", "/items", "-p", "b=1", "-p", "b=2"
    )
    assert (status, err) == (0, "")
    assert out.endswith("\n")
    assert "\n" not in out.strip()
    assert json.loads(out)["query"] == {"b": ["1", "2"]}


def test_pretty_on_a_terminal(server: JSONServer) -> None:
    status, out, _ = run("--host", server.host, "GET", "/echo", tty=True)
    assert status == 0
    assert out.startswith("{\n  ")


def test_a_binary_body_is_written_raw_into_a_pipe(demo: list[str]) -> None:
    """A PNG once came out with EF BF BD where its first byte, 0x89, was."""
    status, out, err = run_bytes("--host", demo[0], "GET", "/apple.png")
    assert (status, err) == (0, "")
    assert out == PNG
    status, out, err = run_bytes("--host", demo[0], "GET", "/apple.png", tty=True)
    assert (status, out) == (0, b"")
    assert err == (
        f"jsonrest: {len(PNG)} bytes of image/png not shown on a terminal: "
        "redirect or pipe the output\n"
    )


def test_a_binary_body_through_the_real_command(demo: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "jsonrest", "--host", demo[0], "GET", "/apple.png"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, PNG, b"")


def test_text_is_printed_as_it_came(server: JSONServer) -> None:
    assert run_bytes("--host", server.host, "GET", "/text") == (0, "héllo".encode(), "")
    assert run("--host", server.host, "GET", "/text", tty=True) == (0, "héllo\n", "")


def test_an_empty_body_prints_nothing(server: JSONServer) -> None:
    assert run("--host", server.host, "GET", "/empty/204") == (0, "", "")


def test_invalid_json_in_a_2xx_exits_4_with_one_line(server: JSONServer) -> None:
    status, out, err = run("--host", server.host, "GET", "/badjson")
    assert (status, out) == (4, "")
    assert err.startswith("jsonrest: GET /badjson: invalid JSON body from ")
    assert err.count("\n") == 1


def test_include_shows_the_status_line_and_headers(server: JSONServer) -> None:
    status, out, _ = run("--host", server.host, "-i", "GET", "/status/404")
    assert status == 1
    head, _, body = out.partition("\n\n")
    lines = head.splitlines()
    assert lines[0] == "HTTP/1.1 404 Not Found"
    assert "Content-Type: application/json" in lines
    sent = {"status": 404, "host": server.host}
    assert f"Content-Length: {len(json.dumps(sent))}" in lines
    assert json.loads(body) == sent


def test_include_in_a_broadcast(servers: list[JSONServer]) -> None:
    argv = [a for srv in servers[:2] for a in ("--host", srv.host)]
    status, out, _ = run(*argv, "--broadcast", "--include", "GET", "/text")
    assert status == 0
    for srv in servers[:2]:
        assert f"== {srv.host}: 200 OK (" in out
    assert out.count("HTTP/1.1 200 OK\n") == 2
    assert out.count("Content-Type: text/plain; charset=utf-8\n") == 2
    assert out.count("\n\nhéllo\n") == 2


def test_broadcast_labels_each_host_and_sums_up(
    servers: list[JSONServer], closed_port: ClosedPort, tmp_path: Path
) -> None:
    hosts = tmp_path / "hosts.txt"
    lines = [f"{srv.host}  # a comment" for srv in servers] + ["", "# only a comment"]
    hosts.write_text("\n".join(lines))
    status, out, _ = run("--hosts-file", str(hosts), "--broadcast", "GET", "/echo")
    assert status == 0
    for srv in servers:
        assert f"== {srv.host}: 200 OK (" in out
    assert out.strip().splitlines()[-1].startswith("3 hosts, 3 ok, 0 failed, slowest ")
    status, out, _ = run(
        "--hosts-file",
        str(hosts),
        "--host",
        closed_port.host,
        "--broadcast",
        "GET",
        "/echo",
    )
    assert status == 1
    assert f"== {closed_port.host}: failed: " in out
    assert "4 hosts, 3 ok, 1 failed" in out


def test_broadcast_to_one_host_with_a_failing_status(server: JSONServer) -> None:
    status, out, _ = run("--host", server.host, "--broadcast", "GET", "/status/503")
    assert status == 1
    assert f"== {server.host}: 503 Service Unavailable (" in out
    assert out.strip().splitlines()[-1].startswith("1 host, 0 ok, 1 failed, slowest")


def test_a_broadcast_counts_invalid_json_as_failed(server: JSONServer) -> None:
    status, out, err = run("--host", server.host, "--broadcast", "GET", "/badjson")
    assert status == 1
    assert "1 host, 0 ok, 1 failed" in out
    assert "invalid JSON body" in err


def test_a_reader_that_leaves_early_gets_no_traceback(server: JSONServer) -> None:
    """`jsonrest ... | head -c 10`: the pipe closes while the body is written."""
    argv = ["--host", server.host, "GET", "/big/2000000"]  # past any pipe buffer
    process = subprocess.Popen(
        [sys.executable, "-m", "jsonrest", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        assert process.stdout.read(10) == b"x" * 10
        process.stdout.close()
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 141
    assert stderr == b""


# Requests -----------------------------------------------------------------------


def test_bodies_inline_and_from_files(server: JSONServer, tmp_path: Path) -> None:
    status, out, _ = run("--host", server.host, "POST", "/echo", "--json", '{"a": [1]}')
    assert status == 0
    assert json.loads(out)["body"] == {"a": [1]}
    body = tmp_path / "body.json"
    body.write_text('{"from": "file"}')
    status, out, _ = run("--host", server.host, "PUT", "/echo", "--data", f"@{body}")
    assert status == 0
    assert json.loads(out)["body"] == {"from": "file"}


def test_a_body_from_stdin(server: JSONServer) -> None:
    result = command(
        "--host", server.host, "PATCH", "/echo", "--data", "@-", input='{"n": 1}'
    )
    assert result.returncode == 0, result.stderr
    echoed = json.loads(result.stdout)
    assert (echoed["method"], echoed["body"]) == ("PATCH", {"n": 1})
    assert echoed["headers"]["content-type"] == "application/json"


def test_headers_are_sent_in_order(server: JSONServer) -> None:
    status, out, err = run(
        "--host",
        server.host,
        "-H",
        "X-Trace: 42",
        "--header",
        "X-Words:  two words ",
        "-H",
        "X-Empty:",
        "GET",
        "/echo",
    )
    assert (status, err) == (0, "")
    headers = json.loads(out)["headers"]
    assert (headers["x-trace"], headers["x-words"], headers["x-empty"]) == (
        "42",
        "two words",
        "",
    )


def test_basic_auth(server: JSONServer, monkeypatch: pytest.MonkeyPatch) -> None:
    status, out, _ = run(
        "--host", server.host, "--auth", "ann:pw:with:colons", "GET", "/"
    )
    assert status == 0
    expected = "Basic " + base64.b64encode(b"ann:pw:with:colons").decode()
    assert json.loads(out)["headers"]["authorization"] == expected
    asked = []

    def getpass(prompt: str) -> str:
        asked.append(prompt)
        return "typed"

    monkeypatch.setattr(_cli.getpass, "getpass", getpass)
    status, out, _ = run("--host", server.host, "--auth", "ann", "GET", "/")
    assert status == 0
    expected = "Basic " + base64.b64encode(b"ann:typed").decode()
    assert json.loads(out)["headers"]["authorization"] == expected
    assert asked == ["password for ann: "]


def test_a_bearer_token_is_sent_and_never_written_on_stderr(
    server: JSONServer, demo: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "tok-3f9a2c"
    monkeypatch.setenv("API_TOKEN", f"  {secret}\n")  # as `$(cat file)` may leave it
    status, out, err = run(
        "-vv", "--host", server.host, "--token-env", "API_TOKEN", "GET", "/echo"
    )
    assert status == 0
    assert json.loads(out)["headers"]["authorization"] == f"Bearer {secret}"
    assert "jsonrest: > Authorization: [hidden]" in err
    assert secret not in err
    # A host that quotes the credential back in its error message.
    status, out, err = run(
        "-v", "--host", demo[0], "--token-env", "API_TOKEN", "GET", "/private"
    )
    assert status == 1
    assert secret in out  # the body is the host's: printed as it came
    assert secret not in err
    assert err.splitlines()[-1].endswith(": token [hidden] is not valid")
    monkeypatch.setenv("API_TOKEN", TOKEN)
    status, out, err = run(
        "--host", demo[0], "--token-env", "API_TOKEN", "GET", "/private"
    )
    assert (status, err) == (0, "")
    assert json.loads(out)["as"] == "bearer token"


def test_a_credential_given_with_h_is_hidden_too(server: JSONServer) -> None:
    status, _, err = run(
        "-v", "--host", server.host, "-H", "Authorization: Bearer hush-hush", "GET", "/"
    )
    assert status == 0
    assert "hush-hush" not in err
    assert "> Authorization: [hidden]" in err


@pytest.mark.parametrize("value", ["", "   ", "two words", "tök", "a\x7fb"])
def test_a_bad_token_is_refused_without_being_shown(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", value)
    status, out, err = run("--host", "h:1", "--token-env", "API_TOKEN", "GET", "/")
    assert (status, out) == (2, "")
    assert err.startswith("jsonrest: --token-env: ")
    assert err.count("\n") == 1
    if value.strip():
        assert value not in err


def test_an_unset_token_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JSONREST_NO_SUCH_VAR", raising=False)
    status, _, err = run(
        "--host", "h:1", "--token-env", "JSONREST_NO_SUCH_VAR", "GET", "/"
    )
    assert status == 2
    assert "JSONREST_NO_SUCH_VAR is empty" in err


def test_follow_redirects(
    servers: list[JSONServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    here, elsewhere = servers[0], servers[1]
    status, out, err = run(
        "--host", here.host, "-i", "GET", "/redirect", "-p", "to=/echo"
    )
    assert status == 1
    assert out.startswith("HTTP/1.1 302 Found\n")
    assert "Location: /echo\n" in out
    assert "302 Found" in err
    status, out, _ = run(
        "--host", here.host, "--follow-redirects", "GET", "/redirect", "-p", "to=/echo"
    )
    assert status == 0
    assert json.loads(out)["path"] == "/echo"
    # To another host: followed, but the credential stays behind.
    monkeypatch.setenv("API_TOKEN", "tok-1234")
    status, out, _ = run(
        "--host",
        here.host,
        "--token-env",
        "API_TOKEN",
        "--follow-redirects",
        "GET",
        "/redirect",
        "-p",
        f"to=http://{elsewhere.host}/echo",
    )
    assert status == 0
    echoed = json.loads(out)
    assert echoed["host"] == elsewhere.host
    assert "authorization" not in echoed["headers"]


def test_deadline_bounds_the_whole_call(server: JSONServer) -> None:
    start = time.monotonic()
    status, _, err = run("--host", server.host, "--deadline", "0.3", "GET", "/sleep/3")
    assert time.monotonic() - start < 2.5
    assert status == 3
    assert "deadline of 0.3 s exceeded" in err


def test_timeout_bounds_each_attempt(server: JSONServer) -> None:
    status, _, err = run("--host", server.host, "--timeout", "0.2", "GET", "/sleep/3")
    assert status == 3
    assert err.startswith("jsonrest: GET /sleep/3: ")
    assert err.count("\n") == 1


@pytest.mark.parametrize(("retries", "attempts"), [("0", 1), ("1", 2), (None, 3)])
def test_retries(servers: list[JSONServer], retries: str | None, attempts: int) -> None:
    """A 503 to a GET fails over; --retries bounds the further attempts."""
    argv = [a for srv in servers for a in ("--host", srv.host)]
    if retries is not None:
        argv += ["--retries", retries]
    status, out, _ = run(*argv, "GET", "/status/503")
    assert status == 1
    assert json.loads(out)["status"] == 503
    assert sum(len(srv.requests) for srv in servers) == attempts


def test_the_longest_timeout_is_taken(server: JSONServer) -> None:
    status, out, err = run(
        "--host", server.host, "--timeout", "31536000", "GET", "/echo"
    )
    assert (status, err) == (0, "")
    assert json.loads(out)["method"] == "GET"


# Logging --------------------------------------------------------------------------


def test_library_log_lines_never_leak_onto_stderr(closed_port: ClosedPort) -> None:
    """Both hosts refuse: the failover is logged as a WARNING, which Python
    prints on stderr, unprefixed, unless someone handles it."""
    with ClosedPort() as other:
        argv = ["--host", closed_port.host, "--host", other.host, "GET", "/x"]
        quiet = command(*argv)
        loud = command("-v", *argv)
    assert quiet.returncode == loud.returncode == 3
    assert quiet.stderr.count("\n") == 1
    assert quiet.stderr.startswith("jsonrest: GET /x failed on 2 hosts (")
    lines = loud.stderr.splitlines()
    assert len(lines) > 2
    assert all(line.startswith("jsonrest: ") for line in lines)
    assert any("failing over" in line for line in lines)


def test_a_successful_failover_prints_nothing_on_stderr(
    server: JSONServer, closed_port: ClosedPort
) -> None:
    for _ in range(8):  # each picks one of the two at random: some fail over
        status, _, err = run(
            "--host", closed_port.host, "--host", server.host, "GET", "/"
        )
        assert (status, err) == (0, "")


def test_verbose_levels(server: JSONServer) -> None:
    _, _, one = run("-v", "--host", server.host, "GET", "/")
    _, _, two = run("-vv", "--host", server.host, "GET", "/")
    assert one.splitlines() == [
        "jsonrest: > GET / (unicast over 1 host)",
        one.splitlines()[-1],
    ]
    assert one.splitlines()[-1].startswith(f"jsonrest: < 200 OK from {server.host} in ")
    assert f"jsonrest: GET {server.host}/ -> 200 in " in two  # every attempt


def test_the_logger_is_left_as_it_was(server: JSONServer) -> None:
    import logging

    log = logging.getLogger("jsonrest")
    before = (log.level, log.propagate, list(log.handlers))
    for verbose in ([], ["-v"], ["-vv"]):
        run(*verbose, "--host", server.host, "GET", "/")
    assert (log.level, log.propagate, list(log.handlers)) == before


# Usage, errors and exit statuses ---------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["GET", "/x"], "no hosts"),
        (["--host", "h:1", "POST", "/x", "--json", "{nope"], "not valid JSON"),
        (["--host", "h:1", "POST", "/x", "--data", "file.json"], "@FILE"),
        (["--host", "h:1", "POST", "/x", "--data", "@/no/such/file"], "cannot read"),
        (["--host", "h:1", "GET", "/x", "-p", "novalue"], "KEY=VALUE"),
        (["--hosts-file", "/no/such/file", "GET", "/x"], "cannot read hosts file"),
        (["--host", "h:1", "--timeout", "0", "GET", "/x"], "--timeout"),
        (["--host", "h:1", "GET"], "required: PATH"),
        (["--host", "h:1", "GET", "/x", "--bogus"], "unrecognized arguments"),
        (["--host", "h:1", "GET", "/x", "--time", "1"], "unrecognized arguments"),
        (["--host", "h:1", "--timeout", "soon", "GET", "/x"], "invalid float"),
        (["--host", "h:1", "--timeout", "inf", "GET", "/x"], "not inf"),
        (["--host", "h:1", "--timeout=-inf", "GET", "/x"], "not -inf"),
        (["--host", "h:1", "--timeout", "nan", "GET", "/x"], "not nan"),
        (["--host", "h:1", "--timeout", "1e300", "GET", "/x"], "--timeout"),
        (["--host", "h:1", "--timeout", "-1", "GET", "/x"], "--timeout"),
        (["--host", "h:1", "--timeout", "1e-400", "GET", "/x"], "--timeout"),
        (["--host", "h:1", "--deadline", "0", "GET", "/x"], "deadline must be"),
        (["--host", "h:1", "--retries", "-1", "GET", "/x"], "must be 0 or more"),
        (["--host", "h:1", "--retries", "two", "GET", "/x"], "invalid count"),
        (["--host", "h:1", "--broadcast", "--unicast", "GET", "/x"], "not allowed"),
        (["--host", "h:1", "GET", "x"], "PATH must start with /"),
        (["--host", "h:1", "GET", "http://elsewhere/x"], "PATH must start with /"),
        (["--host", "h:1", "GET", "//elsewhere/x"], "path must"),
        (["--host", "http://h:1/path?q", "GET", "/x"], "a host has no query"),
        (["--host", "h:1", "-H", "NoColon", "GET", "/x"], "'NAME: VALUE'"),
        (["--host", "h:1", "-H", "Bad Name: v", "GET", "/x"], "invalid header name"),
        (["--host", "h:1", "-H", "X-A: é", "GET", "/x"], "not printable ASCII"),
        (
            ["--host", "h:1", "--auth", "a:b", "--token-env", "T", "GET", "/x"],
            "not allowed with",
        ),
        (
            ["--host", "h:1", "--auth", "a:b", "-H", "Authorization: x", "GET", "/"],
            "not two",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv: list[str], message: str) -> None:
    status, out, err = run(*argv)
    assert status == 2
    assert out == ""
    assert err.startswith("jsonrest: ")
    assert err.count("\n") == 1
    assert message in err


def test_a_bad_timeout_through_the_real_command() -> None:
    """`jsonrest --timeout inf` once crashed at the first request, traceback and all."""
    result = command("--timeout", "inf", "--host", "h:1", "GET", "/x")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("jsonrest: argument --timeout: timeout must be")
    assert "Traceback" not in result.stderr


def test_non_2xx_exits_1_with_one_line(server: JSONServer) -> None:
    status, out, err = run("--host", server.host, "GET", "/status/404")
    assert status == 1
    assert json.loads(out)["status"] == 404
    assert err.startswith(
        f"jsonrest: GET /status/404: 404 Not Found from {server.host}"
    )
    assert err.count("\n") == 1


def test_unreachable_host_exits_3(closed_port: ClosedPort) -> None:
    status, _, err = run("--host", closed_port.host, "GET", "/x", "--timeout", "2")
    assert status == 3
    assert err.startswith("jsonrest: GET /x: ConnectError")
    assert err.count("\n") == 1


def test_interrupted_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli.Resources, "unicast", interrupt)
    assert run("--host", "h:1", "GET", "/") == (130, "", "jsonrest: interrupted\n")


def test_the_documented_statuses_are_the_ones_used() -> None:
    table = re.findall(r"^\| (\d+) \|", DOCS.read_text(), re.MULTILINE)
    used = [_cli.OK, _cli.NOT_2XX, _cli.USAGE, _cli.NO_ANSWER, _cli.UNREADABLE]
    assert [int(status) for status in table] == [
        *used,
        _cli.INTERRUPTED,
        _cli.BROKEN_PIPE,
    ]
    help_text = io.StringIO()
    main(["--help"], out=help_text)
    for status in table:
        assert f" {status} " in " ".join(help_text.getvalue().split())


def test_version() -> None:
    status, out, _ = run("--version")
    assert status == 0
    assert out.startswith(f"jsonrest {jsonrest.__version__} (httpx ")


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "--broadcast" in capsys.readouterr().out


def test_python_dash_m(server: JSONServer) -> None:
    result = command("--host", server.host, "GET", "/echo")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["method"] == "GET"


# The docs ---------------------------------------------------------------------------

CONSOLE = re.compile(r"^```console\n(.*?)^```", re.MULTILINE | re.DOTALL)
#: The demo nodes and the refusing ports, as docs/cli.md writes them.
DOC_NODES = ["127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003"]
DOC_CLOSED = ["127.0.0.1:8008", "127.0.0.1:8009"]


def _examples() -> list[tuple[int, list[tuple[str, list[str]]]]]:
    """Each console block of docs/cli.md: its line, and its commands, each with
    the lines it prints."""
    text = DOCS.read_text()
    blocks = []
    for match in CONSOLE.finditer(text):
        steps: list[tuple[str, list[str]]] = []
        for line in match.group(1).splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
        blocks.append((text[: match.start()].count("\n") + 1, steps))
    return blocks


def _matches(expected: list[str], actual: str) -> bool:
    """`actual` is `expected`, where a line `...` stands for any lines and
    `...` within a line for any text."""
    pattern = ""
    for line in expected:
        if line == "...":
            pattern += r"(?:.*\n)*?"
        else:
            pattern += ".*?".join(map(re.escape, line.rstrip().split("..."))) + r"\n"
    lines = "".join(line.rstrip() + "\n" for line in actual.splitlines())
    return re.fullmatch(pattern, lines) is not None


EXAMPLES = _examples()


def test_the_example_matcher() -> None:
    assert _matches(["a ... c", "...", "z"], "a b c\nx\ny\nz\n")
    assert _matches(["a", "...", "z"], "a\nz\n")
    assert not _matches(["a", "z"], "a\nb\nz\n")
    assert not _matches(["a ... c"], "a b d\n")
    assert not _matches(["a"], "a\nmore\n")
    assert _matches([], "")
    assert not _matches([], "output\n")


def test_the_docs_cover_every_option() -> None:
    commands = " ".join(
        cmd for _, steps in EXAMPLES for cmd, _ in steps if "jsonrest " in cmd
    )
    table = DOCS.read_text()
    for action in _cli._parser(sys.stdout)._actions:
        assert action.option_strings or action.dest in ("method", "path")
        for option in action.option_strings:
            assert f"`{option}" in table, f"{option} is not in the options table"
        assert (
            any(
                re.search(rf"(?<!\S){re.escape(option)}(?![\w-])", commands)
                for option in action.option_strings
            )
            or not action.option_strings
        ), f"no example of {action.option_strings}"


@pytest.mark.parametrize(("line", "steps"), EXAMPLES, ids=[str(n) for n, _ in EXAMPLES])
def test_the_docs_examples_run(
    line: int,
    steps: list[tuple[str, list[str]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each `$ jsonrest ...` runs as on a terminal (stdout and stderr one
    stream); a line with a pipe or a redirection, or another command, runs in
    bash, with `jsonrest` the command of this Python."""
    monkeypatch.chdir(tmp_path)
    for earlier, earlier_steps in EXAMPLES:  # what the reader has exported so far
        for doc_command, _ in earlier_steps:
            if earlier < line and doc_command.startswith("export "):
                name, _, value = doc_command.removeprefix("export ").partition("=")
                monkeypatch.setenv(name, value)
    with demo_cluster() as nodes, ClosedPort() as one, ClosedPort() as two:
        real = dict(
            zip([*DOC_NODES, *DOC_CLOSED], [*nodes, one.host, two.host], strict=True)
        )
        # --discover names a node by localhost: the same port, another name.
        for doc_host, host in list(real.items()):
            real[doc_host.replace("127.0.0.1", "localhost")] = host.replace(
                "127.0.0.1", "localhost"
            )
        status = 0
        for doc_command, expected in steps:
            line_command = doc_command
            for doc_host, host in real.items():
                line_command = line_command.replace(doc_host, host)
            if doc_command == "echo $?":
                output = f"{status}\n"
            elif doc_command.startswith("export "):
                name, _, value = doc_command.removeprefix("export ").partition("=")
                monkeypatch.setenv(name, value)
                output = ""
            elif doc_command.startswith("jsonrest ") and not re.search(
                r"[|<>;&]", doc_command
            ):
                terminal = Stream(tty=True)
                argv = shlex.split(line_command)[1:]
                status = main(argv, out=terminal, err=terminal)
                output = terminal.data().decode()
            else:
                jsonrest_is = f'jsonrest() {{ "{sys.executable}" -m jsonrest "$@"; }}\n'
                result = subprocess.run(
                    ["bash", "-c", jsonrest_is + line_command],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=60,
                    check=False,
                    env=os.environ.copy(),
                )
                status, output = result.returncode, result.stdout
            for doc_host, host in real.items():
                output = output.replace(host, doc_host)
            assert _matches(expected, output), (
                f"docs/cli.md:{line}: $ {doc_command}\n"
                f"expected:\n{chr(10).join(expected)}\ngot:\n{output}"
            )


def test_discover_takes_the_hosts_a_dns_name_resolves_to(server: JSONServer) -> None:
    # localhost resolves (through the system resolver) to 127.0.0.1, where the
    # server listens; the request carries the name it was discovered by.
    status, out, err = run("--discover", f"localhost:{server.port}", "GET", "/items")
    assert (status, err) == (0, "")
    echo = json.loads(out)
    assert echo["path"] == "/items"
    assert echo["headers"]["host"] == f"localhost:{server.port}"


def test_discover_refuses_a_bad_name_before_any_traffic() -> None:
    status, out, err = run("--discover", "bad name:1", "GET", "/items")
    assert status == 2
    assert err.startswith("jsonrest: --discover:")
    assert out == ""
