"""Request preparation: checked and encoded once, before any traffic."""

from __future__ import annotations

import httpx
import pytest

from jsonrest._request import prepare


def test_body_params_and_headers() -> None:
    request = prepare(
        "post", "/a", {"x": [1, "é"]}, {"b": ["x", "y"], "c": 1}, {"X-A": "1"}
    )
    assert request.method == "POST"
    assert request.target == "/a?b=x&b=y&c=1"
    assert request.content == '{"x":[1,"é"]}'.encode()
    assert request.headers is not None
    assert httpx.Headers(request.headers)["content-type"] == "application/json"
    assert not request.idempotent


def test_params_extend_a_query_in_the_path() -> None:
    assert prepare("GET", "/a?x=1", params={"y": 2}).target == "/a?x=1&y=2"
    assert prepare("GET", "/a", params={}).target == "/a"


def test_caller_content_type_wins() -> None:
    request = prepare(
        "PUT", "/a", [1], headers={"Content-Type": "application/merge+json"}
    )
    assert request.headers is not None
    assert httpx.Headers(request.headers)["content-type"] == "application/merge+json"
    assert request.idempotent


@pytest.mark.parametrize("body", [{1, 2}, object(), float("nan"), b"bytes"])
def test_unserializable_body(body: object) -> None:
    with pytest.raises(TypeError, match="JSON"):
        prepare("POST", "/a", body)


def test_circular_body() -> None:
    body: list[object] = []
    body.append(body)
    with pytest.raises(TypeError, match="JSON"):
        prepare("POST", "/a", body)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-A": "a\r\nb"},
        {"X-A": "a\nb"},
        {"X A": "a"},
        {"X-A\r\n": "a"},
        {"": "a"},
        {"X": "\x00"},
    ],
)
def test_header_injection_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="header"):
        prepare("GET", "/a", headers=headers)


def test_header_value_type() -> None:
    with pytest.raises(TypeError, match="header"):
        prepare("GET", "/a", headers={"X-A": 1})  # type: ignore[dict-item]


@pytest.mark.parametrize("method", ["", "GE T", "GET\r\n", "G/T"])
def test_bad_method(method: str) -> None:
    with pytest.raises(ValueError, match="method"):
        prepare(method, "/a")


def test_target_is_what_httpx_sends() -> None:
    # The target (and so Response.path and error messages) is the path as sent.
    request = prepare("GET", "/é/{x}?q=ü", params={"r": "é"})
    assert request.target == "/%C3%A9/%7Bx%7D?q=%C3%BC&r=%C3%A9"
    assert str(httpx.URL("http://h" + request.target)) == "http://h" + request.target


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/a b", "whitespace"),
        ("/a#top", "#fragment"),
        ("/50%", "%25"),
        ("/a/../admin", "segments"),
        ("/%2e%2e/admin", "segments"),
    ],
)
def test_bad_paths_fail_before_sending(path: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        prepare("GET", path)
