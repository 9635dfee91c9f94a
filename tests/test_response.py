"""Response evaluation, without sockets."""

from __future__ import annotations

import pytest

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
