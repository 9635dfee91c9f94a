"""Sources of hosts for discovery: DNS names, SRV records, the cluster itself.

`dns`, `srv` and `sniff` describe a source, checked at once (before any
traffic); the twins ask it (`_async/_refresh.py`). What turns a lookup's
records into members is here, I/O free, beside the two lookups that differ
between the twins: `lookup_srv` / `async_lookup_srv` (dnspython's blocking
and awaitable resolvers). `DNS.lookup` is blocking `getaddrinfo`, which the
awaitable twin runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import importlib.util
import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ._concurrency import async_running_loop
from ._discovery import Member
from ._hosts import parse_host
from ._request import prepare

__all__ = [
    "DNS",
    "SRV",
    "Sniff",
    "Source",
    "async_lookup_srv",
    "check_source",
    "describe",
    "dns",
    "lookup_srv",
    "sniff",
    "srv",
]

# getaddrinfo's answers for a name with no address: an empty answer, not a
# failure (a headless Service whose pods are all gone).
_NO_ADDRESS = {
    code
    for code in (
        getattr(socket, "EAI_NONAME", None),
        getattr(socket, "EAI_NODATA", None),
    )
    if code is not None
}
_FAMILIES = {socket.AF_UNSPEC, socket.AF_INET, socket.AF_INET6}


class Source:
    """A source of hosts that jsonrest knows how to ask."""


@dataclass(frozen=True)
class DNS(Source):
    """A DNS name whose A/AAAA records are the members (see `dns`)."""

    name: str
    port: int | None
    scheme: str
    path: str
    family: int

    def __repr__(self) -> str:
        return f"dns({self.name!r})"

    def lookup(self) -> list[Member]:
        """Resolve the name (blocking `getaddrinfo`): one member per address."""
        try:
            infos = socket.getaddrinfo(
                self.name, self.port, self.family, socket.SOCK_STREAM
            )
        except socket.gaierror as exc:
            if exc.errno in _NO_ADDRESS:
                return []
            raise
        return self.members(str(info[4][0]) for info in infos)

    def members(self, addresses: Iterable[str]) -> list[Member]:
        """One member per address (in order, without repeats), under the name."""
        port = "" if self.port is None else f":{self.port}"
        found: dict[str, Member] = {}
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            shown = f"[{ip}]" if ip.version == 6 else str(ip)
            host = f"{self.scheme}://{shown}{port}{self.path}"
            found.setdefault(host, Member(host, name=self.name))
        return list(found.values())


@dataclass(frozen=True)
class SRV(Source):
    """A DNS name whose SRV records are the members (see `srv`)."""

    name: str
    scheme: str
    nameservers: tuple[str, ...] | None
    port: int
    timeout: float | None

    def __repr__(self) -> str:
        return f"srv({self.name!r})"

    def members(self, records: Iterable[Any]) -> list[Member]:
        """One member per SRV record: its target and port, priority, weight.

        A target of "." says the service is not offered there: skipped.
        """
        found: dict[str, Member] = {}
        # Records come as a set: in order of priority, then weight (heaviest
        # first), then target, so that members keep a stable order.
        ordered = sorted(
            records,
            key=lambda r: (r.priority, -r.weight, r.target.to_text(), r.port),
        )
        for record in ordered:
            target = record.target.to_text(omit_final_dot=True)
            if not target or target == ".":
                continue
            host = f"{self.scheme}://{_bracketed(target)}:{record.port}"
            found.setdefault(
                host, Member(host, None, int(record.priority), int(record.weight))
            )
        return list(found.values())

    def resolver(self, module: Any) -> Any:
        """A resolver of dnspython's `module` (its blocking or awaitable one)."""
        if self.nameservers is None:
            resolver = module.Resolver()
        else:
            resolver = module.Resolver(configure=False)
            resolver.nameservers = list(self.nameservers)
        resolver.port = self.port
        return resolver


@dataclass(frozen=True)
class Sniff(Source):
    """Ask the cluster itself, through one of its members (see `sniff`)."""

    method: str
    path: str
    json: Any
    map: Callable[[Any], Iterable[Any]] = field(compare=False)

    def __repr__(self) -> str:
        return f"sniff({self.method!r}, {self.path!r})"


def dns(host: str, *, family: int = socket.AF_UNSPEC) -> DNS:
    """Members from a DNS name's addresses, re-resolved at each refresh.

    `host` is a host string whose name is resolved (`"search.internal:9200"`,
    `"https://search.internal:9200/api"`): each address becomes a member with
    the same scheme, port and base path (`"10.1.2.3:9200"`). Requests to
    those members carry the name (TLS server name and `Host` header), so a
    certificate is verified against the name, not the address. `family`:
    `socket.AF_INET` or `AF_INET6` for one kind of address only. Uses the
    system's resolver (`getaddrinfo`, in a worker thread when awaited). A
    name with no address is an empty answer.
    """
    parsed = parse_host(host)
    if family not in _FAMILIES:
        raise ValueError("family must be socket.AF_UNSPEC, AF_INET or AF_INET6")
    try:
        ipaddress.ip_address(parsed.name)
    except ValueError:
        pass
    else:
        raise ValueError(f"dns needs a name to resolve, not an address: {host!r}")
    return DNS(parsed.name, parsed.port, parsed.scheme, parsed.path, family)


def srv(
    name: str,
    *,
    scheme: str = "http",
    nameservers: Iterable[str] | None = None,
    port: int = 53,
    timeout: float | None = None,
) -> SRV:
    """Members from a name's SRV records (`"_http._tcp.search.internal"`).

    Each record's target and port make a member (`"http://node-1.internal:9200"`,
    or https with `scheme="https"`); its priority and weight are offered to
    the `priority` hook (`Resources.member(host)`). `nameservers` (addresses)
    and `port` choose the DNS servers to ask, the system's by default; each
    lookup takes at most `timeout` seconds (default: the cluster's
    `discover_timeout`). Needs dnspython: `pip install jsonrest[dns]`. A
    name with no SRV record is an empty answer.
    """
    if importlib.util.find_spec("dns") is None:
        raise ImportError("jsonrest.srv needs dnspython: pip install jsonrest[dns]")
    if not isinstance(name, str) or not name.strip(". "):
        raise ValueError(f"srv needs a DNS name, not {name!r}")
    if scheme not in ("http", "https"):
        raise ValueError(f"scheme must be 'http' or 'https', not {scheme!r}")
    servers = None
    if nameservers is not None:
        if isinstance(nameservers, str):
            raise TypeError("nameservers must be an iterable of addresses, not one str")
        servers = tuple(str(ipaddress.ip_address(server)) for server in nameservers)
        if not servers:
            raise ValueError("nameservers is empty")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"port must be an int from 1 to 65535, not {port!r}")
    if timeout is not None:
        from ._options import check_seconds

        timeout = check_seconds("timeout", timeout)
    return SRV(name, scheme, servers, port, timeout)


def sniff(
    method: str,
    path: str,
    map: Callable[[Any], Iterable[Any]],
    *,
    json: Any = None,
) -> Sniff:
    """Members from the cluster's own answer: `method path` sent as a unicast
    through the cluster (with its failover), and its decoded body mapped by
    `map` to host strings. A status other than 2xx is a failed refresh.

    The cluster needs a member to ask: give the first ones as `hosts`.
    """
    if not callable(map):
        raise TypeError(f"map must be a callable, not {type(map).__name__}")
    request = prepare(method, path, json, None, None, None)  # checked now
    return Sniff(request.method, path, json, map)


def check_source(source: object) -> None:
    """`TypeError` unless `source` is one jsonrest can ask."""
    if not (isinstance(source, Source) or callable(source)):
        raise TypeError(
            "discover must be jsonrest.dns(...), jsonrest.srv(...), "
            "jsonrest.sniff(...) or a callable returning host strings, "
            f"not {type(source).__name__}"
        )


def describe(source: object) -> str:
    """How a source is named in logs and stats."""
    if isinstance(source, Source):
        return repr(source)
    name = getattr(source, "__name__", None) or type(source).__name__
    return f"{name}()"


def _bracketed(name: str) -> str:
    return f"[{name}]" if ":" in name else name


def _records(answer: Any) -> list[Any]:
    return list(answer) if answer is not None else []


def _dnspython(module: str) -> Any:
    # Imported by name: dnspython is optional, and its top-level package is
    # called `dns`, as is the function above.
    return importlib.import_module(f"dns.{module}")


def lookup_srv(source: SRV, timeout: float) -> list[Member]:
    """The SRV records of `source`, asked with dnspython's blocking resolver."""
    resolvers = _dnspython("resolver")
    resolver = source.resolver(resolvers)
    try:
        answer = resolver.resolve(
            source.name, "SRV", lifetime=source.timeout or timeout, search=False
        )
    except (resolvers.NXDOMAIN, resolvers.NoAnswer):
        return []
    return source.members(_records(answer))


async def async_lookup_srv(source: SRV, timeout: float) -> list[Member]:
    """The SRV records of `source`, asked with dnspython's awaitable resolver
    (on asyncio or trio)."""
    resolvers = _dnspython("resolver")
    resolver = source.resolver(_dnspython("asyncresolver"))
    # Named each time: dnspython would keep the first event loop library it
    # saw for every later call, asyncio or trio.
    loop = async_running_loop()
    library = "asyncio" if isinstance(loop, asyncio.AbstractEventLoop) else "trio"
    backend = _dnspython("asyncbackend").get_backend(library)
    try:
        answer = await resolver.resolve(
            source.name,
            "SRV",
            lifetime=source.timeout or timeout,
            search=False,
            backend=backend,
        )
    except (resolvers.NXDOMAIN, resolvers.NoAnswer):
        return []
    return source.members(_records(answer))
