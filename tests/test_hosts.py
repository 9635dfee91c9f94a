"""Host strings and paths: parsed or refused before any traffic."""

from __future__ import annotations

import pytest

from jsonrest._hosts import check_path, parse_host


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("example.com", "http://example.com"),
        ("example.com:8080", "http://example.com:8080"),
        ("127.0.0.1:9200", "http://127.0.0.1:9200"),
        ("[::1]:9200", "http://[::1]:9200"),
        ("[::1]", "http://[::1]"),
        ("http://example.com", "http://example.com"),
        ("https://example.com:8443", "https://example.com:8443"),
        ("HTTPS://Example.COM/", "https://example.com"),
        ("search_1.internal", "http://search_1.internal"),
    ],
)
def test_valid_hosts(host: str, url: str) -> None:
    assert parse_host(host).url == url


def test_parsed_parts() -> None:
    assert parse_host("https://[2001:db8::1]:443") == (
        "https",
        "2001:db8::1",
        443,
        "https://[2001:db8::1]:443",
    )


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("", "empty"),
        (" example.com", "whitespace"),
        ("exa mple.com", "whitespace"),
        ("example.com/path", "path"),
        ("http://example.com/path", "path"),
        ("http://example.com?q=1", "query"),
        ("example.com?q=1", "query"),
        ("http://user:pw@example.com", "user info"),
        ("user@example.com", "user info"),
        ("example.com:0", "port"),
        ("example.com:99999", "port"),
        ("example.com:http", "port"),
        ("example.com:", "port"),
        ("ftp://example.com", "scheme"),
        ("::1", "host name"),
        ("[::g]:80", "IPv6"),
        ("exa\\mple.com", "path"),
        ("-bad-.com", "host name"),
    ],
)
def test_invalid_hosts(host: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_host(host)


def test_host_must_be_str() -> None:
    with pytest.raises(TypeError):
        parse_host(b"example.com")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "path", ["/", "/a/b", "/a?b=1", "/@evil.com", "/%2e%2e/x", "/a:b"]
)
def test_paths_stay_on_host(path: str) -> None:
    assert check_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "a/b",
        "http://evil.com/",
        "//evil.com/x",
        "/\\evil.com",
        "/a\r\nb",
        "/a b",
        "/a#f",
    ],
)
def test_paths_that_would_leave_or_break_the_request(path: str) -> None:
    with pytest.raises(ValueError, match="path"):
        check_path(path)
