"""The `jsonrest` command: send one JSON request to one host, or to a cluster.

jsonrest --host api:8080 GET /items -p page=2
jsonrest --hosts-file hosts.txt --broadcast GET /health
jsonrest --host a:1 --host b:1 POST /items --json '{"name": "plum"}'
jsonrest --host api:8080 --token-env API_TOKEN -i GET /me

Exit statuses: 0 every response 2xx; 1 a response was not 2xx; 2 a usage
error; 3 no answer (refused, timed out, no host); 4 an answer that could not
be read (invalid JSON in a 2xx, a body over the limit); 130 interrupted;
141 the reader of the output left early.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import getpass
import json
import logging
import os
import platform
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, Protocol, TextIO

import httpx

from ._exceptions import (
    BodyTooLarge,
    BroadcastError,
    DecodeError,
    Error,
    NoHostAvailable,
    StatusError,
    TransportError,
)
from ._hosts import parse_host
from ._options import check_seconds
from ._response import Response, is_json
from ._sources import dns
from ._sync import Resources

__all__ = ["main"]

OK = 0
NOT_2XX = 1
USAGE = 2
NO_ANSWER = 3
UNREADABLE = 4
INTERRUPTED = 130
BROKEN_PIPE = 141  # as a shell reports a command ended by SIGPIPE

#: Headers whose values -v never shows.
_SECRET = frozenset({"authorization", "proxy-authorization", "cookie"})
_TEXT_TYPES = frozenset(
    {
        "application/javascript",
        "application/x-www-form-urlencoded",
        "application/xml",
        "application/yaml",
        "application/x-ndjson",
    }
)


class _Fail(Exception):
    """A usage error: one line on stderr, status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (argparse prints the usage first)
    and help goes to the command's own output stream."""

    out: TextIO = sys.stdout

    def error(self, message: str) -> NoReturn:
        raise _Fail(f"{message} (see jsonrest --help)")

    def print_help(self, file: Any = None) -> None:
        super().print_help(file or self.out)


class _Version(argparse.Action):
    """`--version`: print the versions that matter in a bug report, and exit."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from . import __version__

        out = parser.out if isinstance(parser, _Parser) else sys.stdout
        print(
            f"jsonrest {__version__} (httpx {httpx.__version__}, "
            f"Python {platform.python_version()})",
            file=out,
        )
        parser.exit()


def _seconds(name: str) -> Any:
    """An argparse type: seconds, checked as the library checks its options, so
    a bad value (0, inf, nan, 1e300) is a usage error, not a failed request."""

    def seconds(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
        try:
            return check_seconds(name, value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return seconds


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _parser(out: TextIO) -> _Parser:
    parser = _Parser(
        prog="jsonrest",
        allow_abbrev=False,
        description="Send a JSON request to one host of a cluster (unicast, with "
        "failover) or to every host (broadcast), and print the answer.",
        epilog="Exit status: 0 every response 2xx, 1 a response was not 2xx, "
        "2 usage error, 3 no answer (refused, timed out, no host), 4 an answer "
        "that could not be read (invalid JSON, too large), 130 interrupted, "
        "141 the output's reader left early.",
    )
    parser.out = out
    parser.add_argument("method", metavar="METHOD", help="GET, POST, PUT, DELETE...")
    parser.add_argument("path", metavar="PATH", help="the path, e.g. /items")
    hosts = parser.add_argument_group("hosts")
    hosts.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="H",
        help="a host: name[:port] or http(s)://name[:port]; repeatable",
    )
    hosts.add_argument(
        "--hosts-file",
        type=Path,
        metavar="F",
        help="a file of hosts, one per line (# starts a comment)",
    )
    hosts.add_argument(
        "--discover",
        metavar="NAME",
        help="a DNS name[:port] whose addresses are hosts (A and AAAA records, "
        "through the system resolver), beside any --host",
    )
    mode = hosts.add_mutually_exclusive_group()
    mode.add_argument(
        "--unicast",
        action="store_true",
        help="send to one host, failing over to others (the default)",
    )
    mode.add_argument(
        "--broadcast",
        action="store_true",
        help="send to every host at once and print each result",
    )
    request = parser.add_argument_group("request")
    request.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a query parameter; repeat a key for several values",
    )
    request.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a request header; repeatable",
    )
    body = request.add_mutually_exclusive_group()
    body.add_argument("--json", metavar="BODY", help="a JSON body, given inline")
    body.add_argument(
        "--data",
        metavar="@FILE",
        help="a JSON body read from a file (@path) or stdin (@-)",
    )
    auth = request.add_mutually_exclusive_group()
    auth.add_argument(
        "--auth",
        metavar="USER[:PASSWORD]",
        help="HTTP basic authentication; without :PASSWORD, asks for it",
    )
    auth.add_argument(
        "--token-env",
        metavar="VAR",
        help="send the bearer token held in environment variable VAR",
    )
    calls = parser.add_argument_group("timing and failover")
    calls.add_argument(
        "--timeout",
        type=_seconds("timeout"),
        default=5.0,
        metavar="S",
        help="seconds per attempt (default 5)",
    )
    calls.add_argument(
        "--deadline",
        type=_seconds("deadline"),
        metavar="S",
        help="seconds for the whole call, every attempt included (default none)",
    )
    calls.add_argument(
        "--retries",
        type=_count,
        metavar="N",
        help="further attempts of a unicast, each on another host (default 2)",
    )
    calls.add_argument(
        "--follow-redirects",
        action="store_true",
        help="follow 3xx redirects (credentials are not sent to other hosts)",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "-i",
        "--include",
        action="store_true",
        help="print the status line and headers before the body",
    )
    output.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="print the request and the library's log lines on stderr "
        "(-vv: every attempt)",
    )
    output.add_argument(
        "--version", action=_Version, nargs=0, help="print the version and exit"
    )
    return parser


# Reading the arguments ---------------------------------------------------------


def _hosts(args: argparse.Namespace) -> list[str]:
    hosts = list(args.host)
    if args.hosts_file is not None:
        try:
            text = args.hosts_file.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise _Fail(f"cannot read hosts file: {exc}") from None
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                hosts.append(line)
    if not hosts and args.discover is None:
        raise _Fail("no hosts: give --host, --hosts-file or --discover")
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
        except (OSError, UnicodeDecodeError) as exc:
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


def _printable(value: str) -> bool:
    """Printable ASCII (blanks inside allowed): what a header value may hold."""
    return value.isascii() and all(" " <= char < "\x7f" for char in value)


def _headers(args: argparse.Namespace, err: _Redacting) -> list[tuple[str, str]]:
    """The request headers: `-H` in order, then the credentials.

    Each secret (a credential header's value, a password, a token) is handed
    to `err`, which hides it in everything written there.
    """
    headers: list[tuple[str, str]] = []
    for given in args.header:
        name, sep, value = given.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            raise _Fail(f"-H takes 'NAME: VALUE', not {given!r}")
        if name.lower() in _SECRET:
            err.hide(value, value.partition(" ")[2])
        if not _printable(value):
            raise _Fail(f"header {name}: the value is not printable ASCII")
        headers.append((name, value))
    credential: str | None = None
    if args.auth is not None:
        user, sep, password = args.auth.partition(":")
        if not sep:
            try:
                password = getpass.getpass(f"password for {user}: ")
            except EOFError:
                raise _Fail("--auth USER: no password given") from None
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        err.hide(password, pair)
        credential = f"Basic {pair}"
    elif args.token_env is not None:
        token = os.environ.get(args.token_env, "").strip()
        err.hide(token)
        if not token:
            raise _Fail(f"--token-env: environment variable {args.token_env} is empty")
        if not _printable(token) or " " in token:
            raise _Fail(
                f"--token-env: the token in {args.token_env} is not a valid "
                f"bearer token ({len(token)} characters; printable ASCII, no blanks)"
            )
        credential = f"Bearer {token}"
    if credential is not None:
        if any(name.lower() == "authorization" for name, _ in headers):
            raise _Fail("give --auth, --token-env or -H 'Authorization: ...', not two")
        headers.append(("Authorization", credential))
    return headers


# Output -----------------------------------------------------------------------


class _Writer(Protocol):
    """What stderr is written through: `_Redacting` or any text stream."""

    def write(self, text: str, /) -> int: ...
    def flush(self) -> None: ...


class _Redacting:
    """stderr, with every secret given to `hide` written as `[hidden]`: in
    messages, in -v output and in the library's log lines alike (a host may
    quote a credential back in an error message).

    A plain object, not an `io` stream: it owns nothing to close."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.secrets: list[str] = []

    def hide(self, *secrets: str) -> None:
        # Longest first, so a secret inside another is not half-hidden; too
        # short a one would blank out ordinary words.
        self.secrets += (secret for secret in secrets if len(secret) >= 4)
        self.secrets.sort(key=len, reverse=True)

    def write(self, text: str) -> int:
        for secret in self.secrets:
            text = text.replace(secret, "[hidden]")
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()


class _Versions:
    """The HTTP version of the responses, seen by an httpx response hook.

    jsonrest's `Response` does not carry it; `-i` prints it in the status line.
    """

    def __init__(self) -> None:
        self.by_origin: dict[tuple[str, str, int | None], str] = {}
        self.last = "HTTP/1.1"

    def __call__(self, response: httpx.Response) -> None:
        url = response.request.url
        self.by_origin[(url.scheme, url.host, url.port)] = response.http_version
        self.last = response.http_version

    def of(self, host: str) -> str:
        url = httpx.URL(parse_host(host).url)
        return self.by_origin.get((url.scheme, url.host, url.port), self.last)


class _Output:
    """Writes responses: the body as JSON, text or raw bytes, as the stream suits."""

    def __init__(self, out: TextIO, err: _Writer, include: bool) -> None:
        self.out = out
        self.err = err
        self.tty = out.isatty()
        self.include = include

    def line(self, text: str) -> None:
        print(text, file=self.out)

    def raw(self, data: bytes) -> None:
        """`data` exactly as it is, through the stream's binary buffer."""
        buffer = getattr(self.out, "buffer", None)
        if buffer is None:  # a text-only stream (io.StringIO): the best it takes
            self.out.write(data.decode("utf-8", "surrogateescape"))
            return
        self.out.flush()
        view = memoryview(data)
        while view:
            # A write can end short once the reader has left (CPython returns
            # the count rather than raising): the next one raises EPIPE.
            written = buffer.write(view)
            if not written:
                raise BrokenPipeError("nothing more could be written")
            view = view[written:]
        buffer.flush()

    def head(self, response: Response, version: str) -> None:
        """The status line and the headers, as received (`-i`)."""
        self.line(f"{version} {response.status} {response.reason}".rstrip())
        for name, value in response.headers.raw:
            self.line(f"{name.decode('latin-1')}: {value.decode('latin-1')}")
        self.line("")

    def body(self, response: Response, listing: bool = False) -> None:
        """Print the body: JSON re-rendered (pretty on a terminal, one line in a
        pipe); text as it came; other bytes raw in a pipe, never on a terminal.

        Raises `DecodeError` for a 2xx body declared JSON that is not.
        `listing` (a broadcast) ends raw bodies with a newline.
        """
        data = response.body
        if not data:
            return
        content_type = response.headers.get("content-type", "")
        if is_json(content_type):
            value = response.value  # DecodeError for an invalid 2xx body
            if isinstance(value, str) and not self._valid_json(data):
                self._text(value)  # an error status's body that is not JSON
            elif self.tty:
                self.line(json.dumps(value, indent=2, ensure_ascii=False))
            else:
                text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
                self.raw(text.encode() + b"\n")
        elif self.tty:
            if _is_text(content_type, data):
                self._text(response.value)
            else:
                shown = content_type or "no content type"
                print(
                    f"jsonrest: {len(data)} bytes of {shown} not shown on a "
                    "terminal: redirect or pipe the output",
                    file=self.err,
                )
        else:
            self.raw(data if not listing or data.endswith(b"\n") else data + b"\n")

    def _text(self, text: str) -> None:
        self.out.write(text if text.endswith("\n") else text + "\n")

    @staticmethod
    def _valid_json(data: bytes) -> bool:
        try:
            json.loads(data)
        except (ValueError, RecursionError):
            return False
        return True


def _is_text(content_type: str, data: bytes) -> bool:
    media, _, parameters = content_type.partition(";")
    media = media.strip().lower()
    if media.startswith("text/") or media in _TEXT_TYPES or media.endswith("+xml"):
        return True
    if "charset=" in parameters.lower():
        return True
    if media:
        return False
    try:  # no content type: text if it reads as UTF-8
        return "\x00" not in data.decode()
    except UnicodeDecodeError:
        return False


# Logging ----------------------------------------------------------------------


@contextlib.contextmanager
def _logging(err: _Writer, verbose: int) -> Iterator[None]:
    """While the command runs, the `jsonrest` logger writes to `err` with a
    `jsonrest:` prefix under -v (INFO and up; -vv: DEBUG too), and nowhere
    without it; its level, handlers and propagation are put back after."""
    log = logging.getLogger("jsonrest")
    saved = log.level, log.propagate
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler(err)
        handler.setFormatter(logging.Formatter("jsonrest: %(message)s"))
        log.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    else:
        handler = logging.NullHandler()
    log.addHandler(handler)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(saved[0])
        log.propagate = saved[1]


def _say(err: _Writer, text: str) -> None:
    print(f"jsonrest: {text}", file=err)


# The calls --------------------------------------------------------------------


def _broadcast(
    cluster: Resources,
    args: argparse.Namespace,
    body: Any,
    params: dict[str, list[str]],
    output: _Output,
    versions: _Versions,
) -> int:
    try:
        responses = {
            r.host: r
            for r in cluster.broadcast(args.method, args.path, body, params=params)
        }
        failures: dict[str, BaseException] = {}
    except BroadcastError as group:
        responses = dict(group.responses)
        failures = {getattr(e, "host", "?"): e for e in group.exceptions}
    ok = 0
    for host in cluster:
        response = responses.get(host)
        if response is None:
            output.line(f"== {host}: failed: {failures.get(host, 'no response')}")
            continue
        output.line(
            f"== {host}: {response.status} {response.reason} "
            f"({response.elapsed * 1000:.1f} ms)"
        )
        if output.include:
            output.head(response, versions.of(host))
        try:
            output.body(response, listing=True)
        except DecodeError as exc:
            output.out.flush()
            _say(output.err, str(exc))
            continue
        ok += bool(response)
    count = len(cluster)
    summary = f"{count} host{'s' if count != 1 else ''}, {ok} ok, {count - ok} failed"
    if responses:
        slowest = max(responses.values(), key=lambda r: r.elapsed)
        summary += f", slowest {slowest.host} ({slowest.elapsed * 1000:.1f} ms)"
    output.line(summary)
    return OK if ok == count else NOT_2XX


def _describe(
    args: argparse.Namespace, hosts: list[str], headers: list[tuple[str, str]]
) -> Iterator[str]:
    """What -v says about the request before it is sent (credentials hidden)."""
    query = str(httpx.QueryParams(_params(args.param)))
    target = args.path + (f"?{query}" if query else "")
    mode = "broadcast to" if args.broadcast else "unicast over"
    count = f"{len(hosts)} host{'s' if len(hosts) != 1 else ''}"
    yield f"> {args.method.upper()} {target} ({mode} {count})"
    for name, value in headers:
        yield f"> {name}: {'[hidden]' if name.lower() in _SECRET else value}"
    if args.json is not None or args.data is not None:
        yield "> Content-Type: application/json"


def _run(argv: Sequence[str], out: TextIO, err: _Redacting) -> int:
    args = _parser(out).parse_args(argv)
    if not args.path.startswith("/"):
        raise _Fail(f"PATH must start with /, e.g. /items, not {args.path!r}")
    hosts = _hosts(args)
    body = _body(args)
    params = _params(args.param)
    headers = _headers(args, err)
    versions = _Versions()
    options: dict[str, Any] = {
        "timeout": args.timeout,
        "deadline": args.deadline,
        "follow_redirects": args.follow_redirects,
        "event_hooks": {"response": [versions]},
    }
    if headers:
        options["headers"] = headers
    if args.retries is not None:
        options["retries"] = args.retries
    if args.discover is not None:
        try:
            options["discover"] = dns(args.discover)
        except (ValueError, TypeError) as exc:
            raise _Fail(f"--discover: {exc}") from None
    output = _Output(out, err, args.include)
    with _logging(err, args.verbose):
        try:
            cluster = Resources(hosts, **options)
        except (ValueError, TypeError) as exc:
            raise _Fail(str(exc)) from None
        with cluster:
            if args.verbose:
                for line in _describe(args, hosts, headers):
                    _say(err, line)
            if args.broadcast:
                return _broadcast(cluster, args, body, params, output, versions)
            response = cluster.unicast(args.method, args.path, body, params=params)
            if args.verbose:
                _say(
                    err,
                    f"< {response.status} {response.reason} from {response.host} "
                    f"in {response.elapsed * 1000:.1f} ms",
                )
            if output.include:
                output.head(response, versions.last)
            output.body(response)
            if not response:
                out.flush()
                _say(err, str(StatusError(response, response.value)))
                return NOT_2XX
            return OK


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the command line; return its exit status (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    stderr = _Redacting(err or sys.stderr)
    try:
        return _run(argv, out, stderr)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else OK
    except _Fail as exc:
        _say(stderr, str(exc))
        return USAGE
    except (ValueError, TypeError) as exc:
        # The library refuses bad input (a path, a header) before sending.
        _say(stderr, str(exc))
        return USAGE
    except (TransportError, NoHostAvailable) as exc:
        _say(stderr, str(exc))
        return NO_ANSWER
    except (DecodeError, BodyTooLarge) as exc:
        out.flush()
        _say(stderr, str(exc))
        return UNREADABLE
    except Error as exc:
        _say(stderr, str(exc))
        return NOT_2XX
    except KeyboardInterrupt:
        _say(stderr, "interrupted")
        return INTERRUPTED
    except BrokenPipeError:
        # The reader left (`jsonrest ... | head`): as other commands do, stop
        # quietly, and point stdout at devnull so the exit flush cannot fail.
        if out is sys.stdout:
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE
