"""Host strings and paths: parsed or refused before any traffic."""

from __future__ import annotations

import httpx
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
        "",
    )


@pytest.mark.parametrize(
    ("host", "url", "path"),
    [
        ("http://h:8080/api/v2", "http://h:8080", "/api/v2"),
        ("http://h:8080/api/v2/", "http://h:8080", "/api/v2"),
        ("h:1/api", "http://h:1", "/api"),
        ("https://[::1]:8443/db/", "https://[::1]:8443", "/db"),
        ("http://h/", "http://h", ""),
        ("http://h/ünï/{x}", "http://h", "/%C3%BCn%C3%AF/%7Bx%7D"),
        ("http://h/a%2Fb/.well-known", "http://h", "/a%2Fb/.well-known"),
        ("HTTP://H/Api", "http://h", "/Api"),  # paths keep their case
    ],
)
def test_base_paths(host: str, url: str, path: str) -> None:
    parsed = parse_host(host)
    assert (parsed.url, parsed.path) == (url, path)


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("", "empty"),
        (" example.com", "whitespace"),
        ("exa mple.com", "whitespace"),
        ("http://example.com/a/../b", r"'\.\.' segments"),
        ("example.com/./b", r"'\.' or"),
        ("example.com/%2e%2E", r"'\.\.' segments"),
        ("http://example.com//", "//"),
        ("http://example.com//evil", "path must stay"),
        ("http://example.com/a%zz", "%XX"),
        ("http://example.com/a#f", "fragment"),
        ("http://example.com/a?", "query"),
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
        ("exa\\mple.com", "backslash"),
        ("http://example.com/a\\b", "backslash"),
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
    "path",
    [
        "/",
        "/a/b",
        "/a?b=1",
        "/@evil.com",
        "/a:b",
        "/a//b",
        "/.well-known/x",
        "/a..b/.../c.d",
        "/a?next=../x",  # the query is not a path
        "/a%2Fb%2e",
        "/%7E?q=%25",
    ],
)
def test_paths_stay_on_host(path: str) -> None:
    assert check_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "/é",
        "/日本/ü?q=é&r=ü",
        '/a"b<c>d',
        "/{x}/`y`?z={w}&v=`u`",
        '/a?q="x"<y>',
        "/a|b^c[d]?e=[1]|2",
        "/%C3%A9/é?%41=%7A&b=é",  # escapes kept, the rest encoded
    ],
)
def test_paths_are_encoded_as_httpx_sends_them(path: str) -> None:
    sent = httpx.URL("http://h:1/base" + path).raw_path.decode("ascii")
    assert "/base" + check_path(path) == sent
    assert check_path(check_path(path)) == check_path(path)  # encoded once


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/a b", "whitespace"),
        ("/a?q=x y", "%20"),
        ("/a#f", "#fragment"),
        ("/a?q=1#f", "never sent"),
        ("/100%", "%25"),
        ("/a?q=%zz", "%XX"),
        ("/..", r"'\.\.' segments"),
        ("/a/../b", r"'\.\.' segments"),
        ("/a/./b", "segments"),
        ("/a/.", "segments"),
        ("/%2e%2e/x", "segments"),
        ("/.%2E/x", "segments"),
        ("/%2e/x", "segments"),
        ("/..%2fx", "segments"),
        ("/..%5Cx", "segments"),
        ("/a/..;/b", "segments"),
        ("/a/.;x/b", "segments"),
    ],
)
def test_path_rules_name_the_problem(path: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_path(path)


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


def test_checked_paths_are_kept_bounded_and_checked_alike() -> None:
    from jsonrest import _hosts

    for i in range(_hosts._CHECKED_KEPT + 10):
        assert check_path(f"/k/{i}/é") == f"/k/{i}/%C3%A9"
    assert len(_hosts._CHECKED) <= _hosts._CHECKED_KEPT
    assert check_path("/k/1/é") == "/k/1/%C3%A9"  # again, from what was kept
    with pytest.raises(ValueError):
        check_path("/a/../b")
    with pytest.raises(ValueError):  # a refused path is never kept
        check_path("/a/../b")
