"""The `jsonrest` command line, against real servers on 127.0.0.1."""

from __future__ import annotations

import io
import json
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from jsonrest._cli import main
from tests.servers import ClosedPort, JSONServer


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(*argv: str, tty: bool = False) -> tuple[int, str, str]:
    out = Terminal() if tty else io.StringIO()
    err = io.StringIO()
    status = main(list(argv), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def test_unicast_prints_compact_json_when_piped(server: JSONServer) -> None:
    status, out, err = run(
        "--host", server.host, "GET", "/items", "-p", "b=1", "-p", "b=2"
    )
    assert status == 0
    assert err == ""
    assert "\n" not in out.strip()
    assert json.loads(out)["query"] == {"b": ["1", "2"]}


def test_pretty_on_a_terminal(server: JSONServer) -> None:
    status, out, _ = run("--host", server.host, "GET", "/echo", tty=True)
    assert status == 0
    assert out.startswith("{\n  ")


def test_bodies_inline_and_from_files(server: JSONServer, tmp_path: Path) -> None:
    status, out, _ = run("--host", server.host, "POST", "/echo", "--json", '{"a": [1]}')
    assert status == 0
    assert json.loads(out)["body"] == {"a": [1]}
    body = tmp_path / "body.json"
    body.write_text('{"from": "file"}')
    status, out, _ = run("--host", server.host, "PUT", "/echo", "--data", f"@{body}")
    assert status == 0
    assert json.loads(out)["body"] == {"from": "file"}


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


def test_non_2xx_exits_1_with_one_line(server: JSONServer) -> None:
    status, out, err = run("--host", server.host, "GET", "/status/404")
    assert status == 1
    assert json.loads(out)["status"] == 404
    assert err.strip() == f"jsonrest: 404 Not Found from {server.host}"


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
        (["--host", "h:1", "--timeout", "soon", "GET", "/x"], "invalid float"),
        (["--host", "h:1", "--timeout", "inf", "GET", "/x"], "not inf"),
        (["--host", "h:1", "--timeout=-inf", "GET", "/x"], "not -inf"),
        (["--host", "h:1", "--timeout", "nan", "GET", "/x"], "not nan"),
        (["--host", "h:1", "--timeout", "1e300", "GET", "/x"], "--timeout"),
        (["--host", "h:1", "--timeout", "-1", "GET", "/x"], "--timeout"),
        (["--host", "h:1", "--timeout", "1e-400", "GET", "/x"], "--timeout"),
        (["--host", "h:1", "--broadcast", "--unicast", "GET", "/x"], "not allowed"),
    ],
)
def test_usage_errors_are_one_line(argv: list[str], message: str) -> None:
    status, out, err = run(*argv)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1
    assert message in err


def test_a_bad_timeout_through_the_real_command() -> None:
    """`jsonrest --timeout inf` once crashed at the first request, traceback and all."""
    argv = ["--timeout", "inf", "--host", "h:1", "GET", "/x"]
    result = subprocess.run(
        [sys.executable, "-m", "jsonrest", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("jsonrest: argument --timeout: timeout must be")
    assert "Traceback" not in result.stderr


def test_the_longest_timeout_is_taken(server: JSONServer) -> None:
    status, out, err = run(
        "--host", server.host, "--timeout", "31536000", "GET", "/echo"
    )
    assert (status, err) == (0, "")
    assert json.loads(out)["method"] == "GET"


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "--broadcast" in capsys.readouterr().out


def test_broadcast_to_one_host_with_a_failing_status(server: JSONServer) -> None:
    status, out, _ = run("--host", server.host, "--broadcast", "GET", "/status/503")
    assert status == 1
    assert f"== {server.host}: 503 Service Unavailable (" in out
    assert out.strip().splitlines()[-1].startswith("1 host, 0 ok, 1 failed, slowest")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--host", "http://h:1/path", "GET", "/x"], "a host has no path"),
        (["--host", "h:1", "GET", "http://elsewhere/x"], "path must"),
    ],
)
def test_bad_input_is_one_line(argv: list[str], message: str) -> None:
    status, _, err = run(*argv)
    assert status == 1
    assert err.count("\n") == 1
    assert message in err
    assert "Traceback" not in err


def test_unreachable_host(closed_port: ClosedPort) -> None:
    status, _, err = run("--host", closed_port.host, "GET", "/x", "--timeout", "2")
    assert status == 1
    assert err.startswith("jsonrest: ConnectError")
    assert err.count("\n") == 1


def test_python_dash_m(server: JSONServer) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "jsonrest", "--host", server.host, "GET", "/echo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["method"] == "GET"


def test_demo_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for part in (
        "One host: Resource",
        "Resources",
        "failing over",
        "Shards.multicast",
        "[trio]",
        "The command line",
        "2 hosts, 2 ok, 0 failed",
    ):
        assert part in out
    assert main(["demo", "--bogus"]) == 2


@pytest.mark.skipif(sys.platform == "win32", reason="stops the demo with SIGINT")
def test_the_cli_against_demo_serve() -> None:
    """A new user's first session: start the demo cluster, then query it."""
    demo = subprocess.Popen(
        [sys.executable, "-m", "jsonrest", "demo", "--serve"],
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
        finally:
            demo.kill()
    assert demo.returncode == 0
    assert "Traceback" not in stderr


def test_a_reader_that_leaves_early_gets_no_traceback(server: JSONServer) -> None:
    """`jsonrest ... | head -c 10`: the pipe closes while the body is printed."""
    argv = ["--host", server.host, "GET", "/big/2000000"]  # past any pipe buffer
    command = subprocess.Popen(
        [sys.executable, "-m", "jsonrest", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert command.stdout is not None
    try:
        assert len(command.stdout.read(10)) == 10
        command.stdout.close()
        _, stderr = command.communicate(timeout=60)
    finally:
        command.kill()
    assert command.returncode == 1
    assert stderr == b""
