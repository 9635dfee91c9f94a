"""Parsing the host strings users give, and the paths they send to them."""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

import httpx

__all__ = ["Host", "check_path", "parse_host"]

_SCHEMES = ("http", "https")
# Whitespace and control characters: one search, on every request's path.
_BLANK_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")
# RFC 1123 labels, plus "_" which real service names (and Docker) use.
_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$"
)
# A "%" that does not begin an escape of two hex digits.
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# What httpx percent-encodes in a path or a query: non-ASCII, and `"<>{}` and
# backtick (whitespace, controls and "#" are refused before this).
_TO_ENCODE = re.compile(r'[^\x21-\x7e]|["<>`{}]')
# What a server may take for a separator once it has decoded a segment.
_SEPARATOR = re.compile(r"[/\\]")


class Host(NamedTuple):
    """A parsed host: where requests go, and the base path they are sent under.

    `url` is the origin (`scheme://name[:port]`); `path` is the base path
    (`""` for none, else `/seg...` without a trailing slash, percent-encoded
    as httpx would). A request for `/items` goes to `url + path + "/items"`.
    """

    scheme: str
    name: str
    port: int | None
    url: str
    path: str = ""


def parse_host(host: str) -> Host:
    """Parse `name`, `name:port`, `[ipv6]:port` or `http(s)://name[:port]`, each
    optionally followed by a base path (`http://name:8080/api/v2`).

    Raises `ValueError` naming the problem for anything else: an empty string, a
    query, a fragment, user info, a bad port, another scheme, or a base path
    that `check_path` refuses.
    """
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    if not host or host != host.strip() or _BLANK_OR_CONTROL.search(host):
        raise ValueError(f"invalid host {host!r}: empty or contains whitespace")
    if "://" in host:
        scheme = host.split("://", 1)[0].lower()
        if scheme not in _SCHEMES:
            raise ValueError(f"invalid host {host!r}: scheme must be http or https")
        text = host
    else:
        scheme = "http"
        text = "http://" + host
    if "\\" in text:
        raise ValueError(f"invalid host {host!r}: backslash in host")
    authority = text.split("://", 1)[1].split("/", 1)[0]
    if authority.count(":") > 1 and not authority.startswith("["):
        raise ValueError(
            f"invalid host {host!r}: bad host name (write IPv6 as [addr]:port)"
        )
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # unbalanced or invalid [brackets]
        raise ValueError(f"invalid host {host!r}: {exc}") from None
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise ValueError(f"invalid host {host!r}: a host has no query or fragment")
    if "@" in parts.netloc:
        raise ValueError(f"invalid host {host!r}: user info is not allowed in a host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"invalid host {host!r}: bad port") from None
    if port == 0 or parts.netloc.endswith(":"):
        raise ValueError(f"invalid host {host!r}: bad port")
    name = parts.hostname or ""
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            raise ValueError(f"invalid host {host!r}: bad IPv6 address") from None
        netloc = f"[{name}]"
    elif ":" in name or not _NAME.match(name):
        raise ValueError(
            f"invalid host {host!r}: bad host name (write IPv6 as [addr]:port)"
        )
    else:
        netloc = name
    if port is not None:
        netloc += f":{port}"
    return Host(
        scheme, name, port, f"{scheme}://{netloc}", _base_path(host, parts.path)
    )


def _base_path(host: str, path: str) -> str:
    """The base path of `host`: its path without the trailing slash, checked and
    encoded as a request's path is."""
    base = path[:-1] if path.endswith("/") else path
    if not base:
        return ""
    if base.endswith("/"):
        raise ValueError(f"invalid host {host!r}: base path ends with '//'")
    try:
        return check_path(base)
    except ValueError as exc:
        raise ValueError(f"invalid host {host!r}: base {exc}") from None


# Paths already checked, as they go on the wire: calls repeat their paths,
# and checking one costs about 1 µs. Bounded: emptied when full.
_CHECKED: dict[str, str] = {}
_CHECKED_KEPT = 256


def check_path(path: str) -> str:
    """Return `path` as it goes on the wire, else raise `ValueError`.

    A request never leaves the host (or the host's base path) it was made for:
    absolute URLs, `//host/...` network paths, backslashes and `.` or `..`
    segments (also percent-encoded, or with `;parameters`) are refused rather
    than resolved. Whitespace, control characters, a `#fragment` and a `%`
    that begins no escape are refused too. What httpx would percent-encode
    (non-ASCII as UTF-8, `"<>` and, before the query, backtick and `{}`) is
    encoded here, so the path returned is the one sent.
    """
    if type(path) is str:  # a subclass might not compare as its text
        known = _CHECKED.get(path)
        if known is not None:
            return known
        checked = _check_path(path)
        if len(_CHECKED) >= _CHECKED_KEPT:
            _CHECKED.clear()
        _CHECKED[path] = checked
        return checked
    return _check_path(path)


def _check_path(path: str) -> str:
    if not isinstance(path, str):
        raise TypeError(f"path must be a str, not {type(path).__name__}")
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/': {path!r}")
    if path.startswith("//") or "\\" in path:
        raise ValueError(f"path must stay on the host: {path!r}")
    if _BLANK_OR_CONTROL.search(path):
        raise ValueError(
            f"path contains whitespace or control characters: {path!r} "
            "(percent-encode a space as %20, or pass query values as params=)"
        )
    if "#" in path:
        raise ValueError(
            f"path must not contain a #fragment, which is never sent: {path!r} "
            "(percent-encode a literal '#' as %23)"
        )
    if "%" in path and _BAD_ESCAPE.search(path):
        raise ValueError(
            f"path has a '%' that begins no %XX escape: {path!r} "
            "(write a literal '%' as %25, or pass query values as params=)"
        )
    route = path.split("?", 1)[0]
    if ("." in route or "%" in route) and _climbs(route):
        raise ValueError(
            f"path must not contain '.' or '..' segments: {path!r} "
            "(they would be resolved, possibly out of the base path)"
        )
    if _TO_ENCODE.search(path):
        try:
            path = httpx.URL(path).raw_path.decode("ascii")
        except httpx.InvalidURL as exc:  # too long
            raise ValueError(f"invalid path: {exc}") from None
    return path


def _climbs(route: str) -> bool:
    """Whether a segment of `route` is `.` or `..` as a server may read it:
    percent-decoded once, split at (decoded) slashes and backslashes, and
    with any `;parameters` dropped."""
    for segment in route.split("/"):
        if "." not in segment and "%" not in segment:
            continue
        for part in _SEPARATOR.split(unquote(segment)):
            if part.split(";", 1)[0] in (".", ".."):
                return True
    return False
