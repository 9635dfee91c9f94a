"""Parsing the host strings users give, and the paths they send to them."""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple
from urllib.parse import urlsplit

__all__ = ["Host", "check_path", "parse_host"]

_SCHEMES = ("http", "https")
# Whitespace and control characters: one search, on every request's path.
_BLANK_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")
# RFC 1123 labels, plus "_" which real service names (and Docker) use.
_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$"
)


class Host(NamedTuple):
    """A parsed host: where requests go, and the base URL they are built on."""

    scheme: str
    name: str
    port: int | None
    url: str


def parse_host(host: str) -> Host:
    """Parse `name`, `name:port`, `[ipv6]:port` or `http(s)://name[:port]`.

    Raises `ValueError` naming the problem for anything else: an empty string, a
    path, a query, user info, a bad port or another scheme.
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
    elif "/" in host or "\\" in host:
        raise ValueError(f"invalid host {host!r}: a host has no path")
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
    if parts.path not in ("", "/"):
        raise ValueError(f"invalid host {host!r}: a host has no path")
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
    return Host(scheme, name, port, f"{scheme}://{netloc}")


def check_path(path: str) -> str:
    """Return `path` if it is a path on the host, else raise `ValueError`.

    A request never leaves the host it was made for: absolute URLs, `//host/...`
    network paths and backslash tricks are refused rather than resolved.
    """
    if not isinstance(path, str):
        raise TypeError(f"path must be a str, not {type(path).__name__}")
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/': {path!r}")
    if path.startswith("//") or "\\" in path:
        raise ValueError(f"path must stay on the host: {path!r}")
    if _BLANK_OR_CONTROL.search(path):
        raise ValueError(f"path contains whitespace or control characters: {path!r}")
    if "#" in path:
        raise ValueError(f"path must not contain a fragment: {path!r}")
    return path
