"""What errors say: the request, the host, and why; and that a library stays quiet."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
import unicodedata
from pathlib import Path
from typing import Any

import httpx
import pytest

import jsonrest
from jsonrest import Response, StatusError
from jsonrest._call import Call
from jsonrest._faults import as_error
from jsonrest._health import Health
from jsonrest._request import prepare
from jsonrest._selection import choose

from .test_response import _attribute_docstrings

ROOT = Path(__file__).resolve().parent.parent
ETCD = b'{"error":"etcdserver: key is not provided","code":3}'


def status_error(
    status: int = 400,
    body: bytes | str = b"",
    content_type: str = "application/json",
    **kw: Any,
) -> StatusError:
    kw = {"reason": "Bad Request", "host": "h:1", "method": "PUT", "path": "/k"} | kw
    raw = body.encode() if isinstance(body, str) else body
    response = Response(status, raw, headers={"content-type": content_type}, **kw)
    with pytest.raises(StatusError) as info:
        response()
    return info.value


def test_status_error_names_request_status_host_and_etcds_message() -> None:
    error = status_error(body=ETCD, host="etcd-1:2379", path="/v3/kv/put?token=s3cret")
    assert str(error) == (
        "PUT /v3/kv/put: 400 Bad Request from etcd-1:2379:"
        " etcdserver: key is not provided"
    )
    assert (error.method, error.path, error.host) == (
        "PUT",
        "/v3/kv/put",
        "etcd-1:2379",
    )
    assert error.body == json.loads(ETCD)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"message": "m", "error": "e", "detail": "d"}, "m"),
        ({"error": "e", "detail": "d"}, "e"),
        ({"detail": "d", "title": "t"}, "d"),  # RFC 9457 problem details
        ({"message": " ", "error": "e"}, "e"),  # a blank message says nothing
        # Elasticsearch and Google APIs: an object under "error".
        ({"error": {"type": "x", "reason": "no such index [a]"}}, "no such index [a]"),
        ({"error": {"code": 403, "message": "denied"}}, "denied"),
        # No message: the text, as the host sent it.
        ({"code": 3}, '{"code": 3}'),
        ([1, 2], "[1, 2]"),
        ({"detail": [{"msg": "field required"}]}, '{"detail": [{"msg": "field'),
    ],
)
def test_the_hosts_message_is_picked_from_a_json_body(body: Any, said: str) -> None:
    error = status_error(body=json.dumps(body))
    assert str(error).startswith(f"PUT /k: 400 Bad Request from h:1: {said}")


def test_a_text_body_is_quoted_on_one_line_without_control_characters() -> None:
    nasty = "bad\r\nX-Injected: 1\x1b[31m\u202eevil\x00\t\u2028end\x85."
    error = status_error(502, nasty, "text/plain", reason="Bad Gateway")
    assert str(error) == (
        "PUT /k: 502 Bad Gateway from h:1: bad X-Injected: 1 [31m evil end ."
    )
    assert all(
        char == " " or unicodedata.category(char)[0] not in "CZ" for char in str(error)
    )


def test_a_long_body_is_cut() -> None:
    error = status_error(500, "  " + "x" * 10_000, "text/html", reason="Oops")
    said = str(error).removeprefix("PUT /k: 500 Oops from h:1: ")
    assert said == "x" * 197 + "..."
    # Blanks, however many, do not count against the excerpt.
    error = status_error(500, "a" + " \n" * 100 + "b", "text/plain", reason="Oops")
    assert str(error).endswith(": a b")


def test_an_undecodable_json_error_body_is_quoted_as_text() -> None:
    error = status_error(502, b"<html>bad gateway</html>", reason="Bad Gateway")
    assert str(error).endswith("from h:1: <html>bad gateway</html>")


def test_nothing_said_nothing_quoted() -> None:
    assert (
        str(status_error(404, reason="Not Found")) == "PUT /k: 404 Not Found from h:1"
    )
    # A binary body (or none given, as the command line does) adds nothing.
    response = Response(500, b"\x89PNG\r\n", reason="Oops", host="h:1")
    assert str(StatusError(response, b"\x89PNG\r\n")) == "500 Oops from h:1"
    assert str(StatusError(response, None)) == "500 Oops from h:1"
    # A hand-made response may know no reason, request or host.
    assert str(StatusError(Response(503), None)) == "503"


@pytest.mark.parametrize(
    ("cause", "kind", "says"),
    [
        (httpx.ConnectError("refused"), jsonrest.TransportError, "ConnectError"),
        (httpx.ReadTimeout("slow"), jsonrest.Timeout, "ReadTimeout"),
        (httpx.DecodingError("bad gzip"), jsonrest.DecodeError, "bad content-enc"),
    ],
)
def test_as_error_names_the_request_without_its_query(
    cause: httpx.HTTPError, kind: type[jsonrest.Error], says: str
) -> None:
    error = as_error(cause, "h:1", 200, method="GET", path="/items?token=s3cret")
    assert type(error) is kind
    assert str(error).startswith(f"GET /items: {says}")
    assert "h:1" in str(error)
    assert "s3cret" not in str(error)
    assert error.host == "h:1"
    # Without the request (as before): the message as it was.
    assert str(as_error(cause, "h:1")).startswith(says)


def test_every_error_has_a_host() -> None:
    transport = jsonrest.TransportError("t", host="a:1")
    group = jsonrest.BroadcastError("m", [transport], {})
    assert group.host is None
    assert group.split(jsonrest.TransportError)[0].host is None  # type: ignore[union-attr]
    assert jsonrest.NoHostAvailable("x").host is None
    assert jsonrest.Error("x").host is None
    assert transport.host == "a:1"
    assert jsonrest.Timeout("t", host="a:1").host == "a:1"
    assert jsonrest.DecodeError("d", host="a:1", status=200).host == "a:1"
    assert jsonrest.BodyTooLarge("a:1", 10).host == "a:1"
    assert status_error(host="a:1").host == "a:1"


def _plan(hosts: list[str], members: list[str], **priorities: Any) -> Call:
    health = Health(members, rng=random.Random(1))
    rank = (lambda host: priorities[host]) if priorities else health.priority
    return Call(
        prepare("DELETE", "/items?token=s3cret"),
        hosts,
        health=health,
        choose=lambda candidates: choose(candidates, rank, health, random.Random(1)),
        retries=2,
        timeout=5.0,
        deadline=None,
    )


@pytest.mark.parametrize(
    ("call", "why"),
    [
        (_plan([], []), "no host was given (the cluster has none"),
        (
            _plan(["a:1", "b:1"], ["a:1", "b:1"], **{"a:1": None, "b:1": None}),
            "no host may be chosen: the priority of every one is None (2 hosts)",
        ),
        (
            _plan(["a:1"], ["a:1"], **{"a:1": None}),
            "no host may be chosen: the priority of every one is None (1 host)",
        ),
        (
            _plan(["a:1", "b:1"], []),
            "all 2 hosts were discarded since the call began",
        ),
        (_plan(["a:1"], []), "its only host was discarded since the call began"),
        # A priority that ignores membership: the host is chosen, then skipped.
        (
            _plan(["a:1"], [], **{"a:1": 0}),
            "its only host was discarded since the call began",
        ),
    ],
)
def test_no_host_available_says_why(call: Call, why: str) -> None:
    assert call.next() is None
    with pytest.raises(jsonrest.NoHostAvailable) as info:
        call.result()
    assert str(info.value).startswith(f"DELETE /items: {why}")
    assert info.value.host is None


def test_no_host_available_from_a_cluster() -> None:
    class Drained(jsonrest.Resources):
        def priority(self, host: str) -> Any:
            return None

    with (
        jsonrest.Resources([]) as empty,
        pytest.raises(jsonrest.NoHostAvailable, match="no host was given"),
    ):
        empty.unicast("GET", "/x")
    with (
        Drained(["a:1", "b:1"]) as drained,
        pytest.raises(jsonrest.NoHostAvailable) as info,
    ):
        drained.unicast("GET", "/x")
    assert str(info.value) == (
        "GET /x: no host may be chosen: the priority of every one is None (2 hosts)"
    )
    with pytest.raises(jsonrest.NoHostAvailable, match="no host was given"):
        choose([], lambda host: 0, Health(), random.Random(1))


ERRORS = [
    jsonrest.Error,
    jsonrest.StatusError,
    jsonrest.DecodeError,
    jsonrest.BodyTooLarge,
    jsonrest.TransportError,
    jsonrest.Timeout,
    jsonrest.NoHostAvailable,
    jsonrest.BroadcastError,
]


@pytest.mark.parametrize("kind", ERRORS)
def test_every_public_attribute_of_an_error_is_in_the_api_reference(
    kind: type[jsonrest.Error],
) -> None:
    assert f"::: jsonrest.{kind.__name__}\n" in (ROOT / "docs" / "api.md").read_text()
    documented = set().union(
        *(
            _attribute_docstrings(c)
            for c in kind.__mro__
            if c.__module__ == kind.__module__
        )
    )
    examples: dict[type[jsonrest.Error], jsonrest.Error] = {
        jsonrest.Error: jsonrest.Error("x"),
        jsonrest.StatusError: status_error(),
        jsonrest.DecodeError: jsonrest.DecodeError("d", host="a:1", status=200),
        jsonrest.BodyTooLarge: jsonrest.BodyTooLarge("a:1", 10),
        jsonrest.TransportError: jsonrest.TransportError("t", host="a:1"),
        jsonrest.Timeout: jsonrest.Timeout("t", host="a:1"),
        jsonrest.NoHostAvailable: jsonrest.NoHostAvailable("x"),
        jsonrest.BroadcastError: jsonrest.BroadcastError("m", [jsonrest.Error("e")]),
    }
    public = {name for name in vars(examples[kind]) if not name.startswith("_")}
    assert public | {"host"} <= documented


def test_a_failover_prints_nothing_without_logging_configured() -> None:
    # A script that configures no logging: Python's last-resort handler would
    # print the failover warning to stderr, were there no NullHandler.
    script = textwrap.dedent(
        """
        import jsonrest
        from tests.servers import ClosedPort, JSONServer

        with JSONServer() as live, ClosedPort() as dead:

            class DeadFirst(jsonrest.Resources):
                def priority(self, host):
                    return 0 if host == dead.host else 1

            with DeadFirst([dead.host, live.host]) as cluster:
                response = cluster.unicast("GET", "/echo")
                failures = cluster.stats()[dead.host]["failures"]
            print(response.host == live.host, failures)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout == "True 1\n", done.stderr
    assert done.stderr == ""
