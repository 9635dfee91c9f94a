"""Response evaluation, without sockets."""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import jsonrest
from jsonrest import Response


def test_json_is_decoded_and_cached() -> None:
    response = Response(200, b'{"a": 1}', headers={"Content-Type": "application/json"})
    assert response
    assert response() == {"a": 1}
    assert response() is response()


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/problem+json",
        "Application/JSON",
    ],
)
def test_json_content_types(content_type: str) -> None:
    assert Response(200, b"[1]", headers={"content-type": content_type})() == [1]


def test_text_and_empty_bodies() -> None:
    assert (
        Response(
            200,
            "é".encode("latin-1"),
            headers={"content-type": "text/plain; charset=latin-1"},
        )()
        == "é"
    )
    assert Response(200, b"abc")() == "abc"
    assert (
        Response(200, b"x", headers={"content-type": "text/plain; charset=nope"})()
        == "x"
    )
    assert Response(204)() is None
    assert Response(200, b"", headers={"content-type": "application/json"})() is None


@pytest.mark.parametrize("status", [100, 199, 300, 302, 404, 500, 503])
def test_non_2xx_is_falsy_and_raises(status: int) -> None:
    response = Response(
        status,
        b'{"error": "x"}',
        headers={"content-type": "application/json"},
        reason="Why",
        host="h:1",
    )
    assert not response
    with pytest.raises(jsonrest.StatusError) as info:
        response()
    error = info.value
    assert (error.status, error.reason, error.body, error.response) == (
        status,
        "Why",
        {"error": "x"},
        response,
    )
    assert "h:1" in str(error)
    assert isinstance(error, jsonrest.Error)


def test_invalid_json() -> None:
    response = Response(
        200, b"{nope", headers={"content-type": "application/json"}, host="h:1"
    )
    with pytest.raises(jsonrest.DecodeError) as info:
        response()
    assert info.value.host == "h:1"
    assert info.value.status == 200
    assert "h:1" in str(info.value)
    assert "200" in str(info.value)


def test_invalid_json_in_an_error_keeps_the_text() -> None:
    response = Response(
        502, b"<html>bad gateway</html>", headers={"content-type": "application/json"}
    )
    with pytest.raises(jsonrest.StatusError) as info:
        response()
    assert info.value.body == "<html>bad gateway</html>"


def test_repr_and_attributes() -> None:
    response = Response(201, b"{}", reason="Created", host="h:1", elapsed=0.5)
    assert repr(response) == "<Response [201 Created] from h:1>"
    assert response.elapsed == 0.5
    assert response.headers == {}


def test_the_httpx_names() -> None:
    ok = Response(
        200, b'{"a": 1}', headers={"content-type": "application/json"}, host="h:1"
    )
    assert ok.status_code == ok.status == 200
    assert ok.content is ok.body
    assert ok.is_success is True
    assert ok.text == '{"a": 1}'
    assert ok.json() == {"a": 1}
    assert ok.raise_for_status() is ok
    for status in (101, 204, 299, 300, 404, 503):
        assert Response(status).is_success is bool(Response(status))


def test_text_is_decoded_by_the_charset_whatever_the_content_type() -> None:
    latin = "é".encode("latin-1")
    for content_type in ("text/csv; charset=latin-1", "application/x; charset=l1"):
        assert Response(200, latin, headers={"content-type": content_type}).text == "é"
    json_text = Response(
        200, b'"\xc3\xa9"', headers={"content-type": "application/json"}
    )
    assert json_text.text == '"é"'
    assert Response(200, "é".encode()).text == "é"
    assert Response(200, b"\xff").text == "\ufffd"
    assert (
        Response(200, b"x", headers={"content-type": "text/plain; charset=no"}).text
        == "x"
    )
    assert Response(204).text == ""


def test_json_whatever_the_content_type() -> None:
    # etcd's /health answers JSON as text/plain.
    health = Response(200, b'{"health":"true"}', headers={"content-type": "text/plain"})
    assert health() == '{"health":"true"}'
    assert health.json() == {"health": "true"}
    assert Response(404, b"[1]").json() == [1]  # whatever the status
    assert Response(200, b"1.5").json(parse_float=str) == "1.5"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "the body is empty"),
        (b"<html>", "Expecting value"),
        (b"\xff\xfe\xfd", "decode"),
    ],
)
def test_json_of_a_body_that_is_not_json(body: bytes, why: str) -> None:
    response = Response(
        200,
        body,
        headers={"content-type": "text/html"},
        host="h:1",
        method="GET",
        path="/page",
    )
    with pytest.raises(jsonrest.DecodeError) as info:
        response.json()
    message = str(info.value)
    assert message.startswith("GET /page: body from h:1 (status 200, content type")
    assert "text/html" in message
    assert why in message
    assert (info.value.host, info.value.status) == ("h:1", 200)


@pytest.mark.parametrize("status", [100, 301, 404, 500])
def test_raise_for_status(status: int) -> None:
    response = Response(status, b"nope", host="h:1", method="GET", path="/x")
    with pytest.raises(jsonrest.StatusError) as info:
        response.raise_for_status()
    assert info.value.response is response
    assert info.value.body == "nope"


def test_method_and_path_never_keep_the_query() -> None:
    response = Response(200, method="GET", path="/items?token=s3cret")
    assert (response.method, response.path) == ("GET", "/items")
    assert (Response(200).method, Response(200).path) == ("", "")


def _attribute_docstrings(cls: type) -> set[str]:
    """The names mkdocstrings documents on `cls` (as griffe reads the source):
    functions and properties with a docstring, and attributes followed by one,
    in the class body or as `self.name = ...` in `__init__`."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0]
    assert isinstance(body, ast.ClassDef)
    names: set[str] = set()

    def scan(statements: list[ast.stmt]) -> None:
        for statement, after in zip(statements, [*statements[1:], None], strict=True):
            documented = (
                isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            )
            target = None
            if isinstance(statement, ast.AnnAssign):
                target = statement.target
            elif isinstance(statement, ast.Assign):
                target = statement.targets[0]
            if isinstance(target, ast.Attribute) and documented:
                names.add(target.attr)
            elif isinstance(target, ast.Name) and documented:
                names.add(target.id)

    scan(body.body)
    for item in body.body:
        if isinstance(item, ast.FunctionDef):
            if ast.get_docstring(item):
                names.add(item.name)
            if item.name == "__init__":
                scan(item.body)
    return names


def test_every_public_attribute_is_in_the_api_reference() -> None:
    api = (Path(__file__).parent.parent / "docs" / "api.md").read_text()
    assert "::: jsonrest.Response\n" in api
    public = {name for name in dir(Response) if not name.startswith("_")}
    assert public >= {"value", "status_code", "json", "text", "content", "elapsed"}
    assert public - _attribute_docstrings(Response) == set()


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    st.one_of(
        st.tuples(
            _json_values,
            st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32"]),
        ).map(lambda pair: json.dumps(pair[0], ensure_ascii=False).encode(pair[1])),
        st.binary(max_size=12),
    )
)
def test_a_json_body_evaluates_as_json_loads_reads_it(body: bytes) -> None:
    """Whatever the bytes (JSON in any encoding `json.loads` detects, or
    not JSON at all), a 2xx JSON response's value is what `json.loads` makes
    of its body, and a body it rejects raises `DecodeError`."""
    response = Response(200, body, headers={"content-type": "application/json"})
    try:
        expected = json.loads(body)
    except ValueError:
        if body:
            with pytest.raises(jsonrest.DecodeError):
                response()
        else:
            assert response() is None  # no body is no value
        return
    assert response() == expected
