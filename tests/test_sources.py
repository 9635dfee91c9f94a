"""Discovery sources: checked when made, before any traffic; records mapped
to members without I/O."""

from __future__ import annotations

import socket
from typing import Any, NamedTuple

import pytest

import jsonrest
from jsonrest import Member
from jsonrest._sources import describe

dns_name = pytest.importorskip("dns.name", reason="needs dnspython (jsonrest[dns])")


def test_dns_keeps_scheme_port_and_base_path() -> None:
    source = jsonrest.dns("https://search.internal:9243/api")
    members = source.members(["10.0.0.7", "fd00::7", "10.0.0.7", "fe80::1%eth0"])
    assert members == [
        Member("https://10.0.0.7:9243/api", name="search.internal"),
        Member("https://[fd00::7]:9243/api", name="search.internal"),
        Member("https://[fe80::1]:9243/api", name="search.internal"),
    ]
    assert repr(source) == "dns('search.internal')"


@pytest.mark.parametrize(
    ("host", "error"),
    [
        ("10.0.0.1:80", "not an address"),
        ("search internal:80", "invalid host"),
        ("http://a:80?x=1", "no query"),
    ],
)
def test_dns_refuses_what_it_cannot_resolve(host: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        jsonrest.dns(host)


def test_dns_family_is_checked() -> None:
    with pytest.raises(ValueError, match="family"):
        jsonrest.dns("a:1", family=socket.AF_UNIX)


def test_dns_resolves_localhost() -> None:
    members = jsonrest.dns("localhost:8080", family=socket.AF_INET).lookup()
    assert Member("http://127.0.0.1:8080", name="localhost") in members


class Record(NamedTuple):
    priority: int
    weight: int
    port: int
    target: Any


def test_srv_records_become_members_by_priority_then_weight() -> None:
    source = jsonrest.srv("_https._tcp.search.internal", scheme="https")
    records = [
        Record(20, 5, 9200, dns_name.from_text("b.internal.")),
        Record(10, 1, 9200, dns_name.from_text("a.internal.")),
        Record(10, 9, 9201, dns_name.from_text("c.internal.")),
        Record(10, 9, 9201, dns_name.from_text(".")),  # not offered here
    ]
    assert source.members(records) == [
        Member("https://c.internal:9201", None, 10, 9),
        Member("https://a.internal:9200", None, 10, 1),
        Member("https://b.internal:9200", None, 20, 5),
    ]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"name": ""}, ValueError),
        ({"scheme": "ftp"}, ValueError),
        ({"nameservers": "127.0.0.1"}, TypeError),
        ({"nameservers": ["not an address"]}, ValueError),
        ({"nameservers": []}, ValueError),
        ({"port": 0}, ValueError),
        ({"timeout": -1}, ValueError),
    ],
)
def test_srv_options_are_checked(options: dict[str, Any], error: type) -> None:
    arguments = {"name": "_http._tcp.a.internal", **options}
    with pytest.raises(error):
        jsonrest.srv(**arguments)


def test_sniff_checks_its_request_at_once() -> None:
    with pytest.raises(ValueError, match="path"):
        jsonrest.sniff("GET", "no-slash", list)
    with pytest.raises(TypeError, match="map must be a callable"):
        jsonrest.sniff("GET", "/members", "members")  # type: ignore[arg-type]
    source = jsonrest.sniff("post", "/v3/cluster/member/list", list, json={})
    assert repr(source) == "sniff('POST', '/v3/cluster/member/list')"


def test_sources_are_named_in_logs() -> None:
    def registry() -> list[str]:
        return []

    assert describe(registry) == "registry()"
    assert describe(jsonrest.dns("a.internal:1")) == "dns('a.internal')"


@pytest.mark.parametrize("cls", [jsonrest.Resources, jsonrest.AsyncResources])
def test_resources_check_discovery_before_any_traffic(cls: Any) -> None:
    with pytest.raises(TypeError, match="discover must be"):
        cls(discover="search.internal:9200")
    with pytest.raises(TypeError, match="refresh need"):
        cls(["a:1"], refresh=5)
    with pytest.raises(ValueError, match="refresh must be seconds"):
        cls(discover=list, refresh=-1)


def test_the_blocking_twin_refuses_an_async_source() -> None:
    async def registry() -> list[str]:
        return []

    with pytest.raises(TypeError, match="use AsyncResources"):
        jsonrest.Resources(discover=registry)


def test_shards_refuse_discovery() -> None:
    with pytest.raises(TypeError, match="Shards"):
        jsonrest.Shards([("a:1", "k")], discover=list)
    with pytest.raises(TypeError, match="Shards"):
        jsonrest.AsyncShards([("a:1", "k")], refresh=1)
