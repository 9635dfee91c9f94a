"""Which options select httpx's client layer rather than the direct path."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from jsonrest._direct import needs_client
from jsonrest._options import resource_options


def client_path(**options: Any) -> bool:
    return needs_client(resource_options(options).client)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"headers": {"X-A": "1"}, "timeout": 2, "limit": 0, "max_body": None},
        {"verify": False, "http1": True, "trust_env": False},
        {"auth": None, "cookies": None, "event_hooks": None, "params": None},
        {"follow_redirects": False, "max_redirects": 3},
        {"transport": httpx.MockTransport(lambda request: httpx.Response(200))},
        {"http2": True, "transport": httpx.HTTPTransport(http2=True)},
        {"default_encoding": "latin-1"},
    ],
)
def test_options_of_the_direct_path(options: dict[str, Any]) -> None:
    assert not client_path(**options)


@pytest.mark.parametrize(
    "options",
    [
        {"auth": ("user", "secret")},
        {"cookies": {}},
        {"event_hooks": {}},
        {"follow_redirects": True},
        {"mounts": {}},
        {"proxy": "http://127.0.0.1:3128"},
        {"params": {"key": "k"}},
        {"http2": True},
    ],
)
def test_options_of_the_client_path(options: dict[str, Any]) -> None:
    assert client_path(**options)
