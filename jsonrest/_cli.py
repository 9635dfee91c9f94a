"""The `jsonrest` command: send one JSON request to one host, or to a cluster.

jsonrest --host api:8080 GET /items -p page=2
jsonrest --hosts-file hosts.txt --broadcast GET /health
jsonrest --host a:1 --host b:1 POST /items --json '{"name": "plum"}'
jsonrest demo            # a local 3-host cluster, and calls against it
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from ._exceptions import BroadcastError, Error, StatusError
from ._options import check_seconds
from ._response import Response
from ._sync import Resources

__all__ = ["main"]

_USAGE_ERROR = 2


class _Fail(Exception):
    """A clear one-line failure for stderr."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (argparse prints the usage first)."""

    def error(self, message: str) -> NoReturn:
        raise _Fail(f"{message} (see jsonrest --help)")


def _seconds(text: str) -> float:
    """`--timeout`'s type: seconds, checked here as the Resource would check them.

    A bad value (0, inf, nan, 1e300) is then a usage error, reported in one line
    with status 2, rather than an error from deep inside the first request.
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    try:
        return check_seconds("timeout", value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jsonrest",
        description="Send a JSON request to one host (unicast, with failover) "
        "or to every host (broadcast). `jsonrest demo` starts a local demo cluster.",
    )
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="H",
        help="a host: name[:port] or http(s)://name[:port]; repeatable",
    )
    parser.add_argument(
        "--hosts-file",
        type=Path,
        metavar="F",
        help="a file of hosts, one per line (# starts a comment)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--broadcast",
        action="store_true",
        help="send to every host and print each result",
    )
    mode.add_argument(
        "--unicast",
        action="store_true",
        help="send to one host, failing over to others (the default)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=5.0,
        metavar="S",
        help="seconds per attempt (default 5)",
    )
    parser.add_argument(
        "method", metavar="METHOD", help="GET, POST, PUT, PATCH, DELETE ..."
    )
    parser.add_argument(
        "path", metavar="PATH", help="the path on the host, e.g. /items"
    )
    body = parser.add_mutually_exclusive_group()
    body.add_argument("--json", metavar="BODY", help="a JSON body, given inline")
    body.add_argument(
        "--data",
        metavar="@FILE",
        help="a JSON body read from a file (@path) or stdin (@-)",
    )
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a query parameter; repeat a key for several values",
    )
    return parser


def _hosts(args: argparse.Namespace) -> list[str]:
    hosts = list(args.host)
    if args.hosts_file is not None:
        try:
            text = args.hosts_file.read_text()
        except OSError as exc:
            raise _Fail(f"cannot read hosts file: {exc}") from None
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                hosts.append(line)
    if not hosts:
        raise _Fail("no hosts: give --host or --hosts-file")
    return hosts


def _body(args: argparse.Namespace) -> Any:
    if args.json is not None:
        source, text = "--json", args.json
    elif args.data is not None:
        if not args.data.startswith("@"):
            raise _Fail("--data takes @FILE (or @- for stdin)")
        name = args.data[1:]
        source = name
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text()
        except OSError as exc:
            raise _Fail(f"cannot read {name}: {exc}") from None
    else:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _Fail(f"{source} is not valid JSON: {exc}") from None


def _params(pairs: Sequence[str]) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise _Fail(f"-p takes KEY=VALUE, not {pair!r}")
        params.setdefault(key, []).append(value)
    return params


def _render(value: Any, pretty: bool) -> str:
    if isinstance(value, str):
        return value
    if pretty:
        return json.dumps(value, indent=2, ensure_ascii=False)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _value(response: Response) -> Any:
    try:
        return response.value
    except Error:
        return response.body.decode("utf-8", "replace")


def _print_body(response: Response, out: TextIO, pretty: bool) -> None:
    value = _value(response)
    if value is not None:
        print(_render(value, pretty), file=out)


def _broadcast(
    cluster: Resources,
    args: argparse.Namespace,
    body: Any,
    params: dict[str, list[str]],
    out: TextIO,
) -> int:
    pretty = out.isatty()
    try:
        responses = {
            r.host: r
            for r in cluster.broadcast(args.method, args.path, body, params=params)
        }
        failures: dict[str, BaseException] = {}
    except BroadcastError as group:
        responses = group.responses
        failures = {getattr(e, "host", "?"): e for e in group.exceptions}
    for host in cluster:
        response = responses.get(host)
        if response is None:
            print(f"== {host}: failed: {failures.get(host, 'no response')}", file=out)
            continue
        print(
            f"== {host}: {response.status} {response.reason} "
            f"({response.elapsed * 1000:.1f} ms)",
            file=out,
        )
        _print_body(response, out, pretty)
    ok = sum(1 for r in responses.values() if r)
    count = len(cluster)
    summary = f"{count} host{'s' if count != 1 else ''}, {ok} ok, {count - ok} failed"
    if responses:
        slowest = max(responses.values(), key=lambda r: r.elapsed)
        summary += f", slowest {slowest.host} ({slowest.elapsed * 1000:.1f} ms)"
    print(summary, file=out)
    return 0 if ok == len(cluster) else 1


def _run(argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    args = _parser().parse_args(argv)
    hosts = _hosts(args)
    body = _body(args)
    params = _params(args.param)
    with Resources(hosts, timeout=args.timeout) as cluster:
        if args.broadcast:
            return _broadcast(cluster, args, body, params, out)
        response = cluster.unicast(args.method, args.path, body, params=params)
        _print_body(response, out, out.isatty())
        if not response:
            print(f"jsonrest: {StatusError(response, None)}", file=err)
            return 1
        return 0


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the command line; return the exit status (0 only if all were 2xx)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        if argv[:1] == ["demo"]:
            from ._demo import main as demo

            return demo(argv[1:])
        return _run(argv, out, err)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except _Fail as exc:
        print(f"jsonrest: {exc}", file=err)
        return _USAGE_ERROR
    except (Error, ValueError, TypeError) as exc:
        print(f"jsonrest: {exc}", file=err)
        return 1
    except KeyboardInterrupt:
        print("jsonrest: interrupted", file=err)
        return 130
    except BrokenPipeError:
        # The reader left (`jsonrest ... | head`): as other commands do, stop
        # quietly, and point stdout at devnull so the exit flush cannot fail.
        if out is sys.stdout:
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
