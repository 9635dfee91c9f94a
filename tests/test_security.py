"""Requests and credentials never go where they were not meant to.

A request never leaves its host, whatever its path; redirects are followed
only when asked, and never carry `Authorization` or cookies to another host;
TLS is verified by default; CR and LF never reach a header; the `jsonrest`
logger never writes credentials, query strings or bodies.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jsonrest
from jsonrest import AsyncResource, AsyncResources, Resource, Resources
from tests.servers import ClosedPort, JSONServer

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
CERT = Path(__file__).with_name("localhost.pem")  # self-signed, for 127.0.0.1
SECRET = "s3cr3t-7f1d"  # appears in every credential, query and body below


# A request never leaves its host --------------------------------------------

TRICKS = [
    "http://evil.example/x",
    "https://evil.example",
    "//evil.example/x",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example\\x",
    "/\\/evil.example",
    "@evil.example",
    "/@evil.example",
    "/@evil.example:80/x",
    "/:@evil.example",
    "/;@evil.example",
    "evil.example/x",
    "/%2F%2Fevil.example/x",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/..%2f..%2fx",
    "/a/../../b",
    "/./x",
    "/%00",
    "/x?next=http://evil.example",
    "/x#@evil.example",
    " /x",
    "/x\r\nHost: evil.example",
    "/\tevil",
]


class Recorder:
    """An in-memory transport that records where each request would go."""

    def __init__(self) -> None:
        self.urls: list[httpx.URL] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url)
        return httpx.Response(200, json={})


@pytest.fixture(scope="module")
def recorded() -> Iterator[tuple[Resource, Recorder]]:
    recorder = Recorder()
    with Resource("api.example:8080", transport=httpx.MockTransport(recorder)) as res:
        yield res, recorder


@FUZZ
@given(
    path=st.one_of(
        st.sampled_from(TRICKS),
        st.text(max_size=25),
        st.text(max_size=25).map(lambda s: "/" + s),
        st.lists(st.sampled_from(["/", "\\", "@", ":", ".", "%2e", "evil"])).map(
            "".join
        ),
    ),
    params=st.none() | st.dictionaries(st.sampled_from(["u", "@", "//"]), st.text()),
)
@pytest.mark.usefixtures("both_paths")
def test_a_request_never_leaves_its_host(
    recorded: tuple[Resource, Recorder], path: str, params: Any
) -> None:
    resource, recorder = recorded
    recorder.urls.clear()
    try:
        resource.request("GET", path, params=params)
    except ValueError:
        assert recorder.urls == []
        return
    (url,) = recorder.urls
    assert (url.scheme, url.host, url.port) == ("http", "api.example", 8080)
    assert url.raw_path.startswith(b"/")
    assert not url.raw_path.startswith(b"//")


@pytest.mark.parametrize("path", ["/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fx"])
def test_percent_encoded_dots_are_refused(server: JSONServer, path: str) -> None:
    # A server that decodes them would climb out of a base path.
    with Resource(server.host) as resource, pytest.raises(ValueError, match=r"\.\."):
        resource.get(path)
    assert server.requests == []


def test_a_subset_names_only_hosts_of_the_cluster(server: JSONServer) -> None:
    with Resources([server.host]) as resources:
        with pytest.raises(ValueError, match="not hosts"):
            resources.unicast("GET", "/", hosts=["evil.example"])
        with pytest.raises(ValueError, match="not hosts"):
            resources.broadcast("GET", "/", hosts=["evil.example"])
    assert server.requests == []


# Redirects -----------------------------------------------------------------


def redirect(to: str, **query: str) -> str:
    extra = "".join(f"&{k}={quote(v)}" for k, v in query.items())
    return f"/redirect?to={quote(to, safe='')}{extra}"


CREDENTIALS: dict[str, Any] = {
    "headers": {"Authorization": f"Bearer {SECRET}"},
    "cookies": {"session": SECRET},
}


def test_redirects_are_not_followed_by_default(servers: list[JSONServer]) -> None:
    home, other, _ = servers
    with Resource(home.host, **CREDENTIALS) as resource:
        response = resource.request("GET", redirect(f"http://{other.host}/echo"))
    assert response.status == 302
    assert other.requests == []


@pytest.mark.parametrize("status", ["301", "302", "303", "307", "308"])
@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
def test_followed_redirects_carry_no_credentials_elsewhere(
    servers: list[JSONServer], status: str, name: str
) -> None:
    home, other, _ = servers
    target = f"http://{name}:{other.port}/echo"
    # A session cookie set by the first host, cookies and Authorization of ours.
    path = redirect(target, status=status, cookie=f"sid={SECRET}")
    with Resource(home.host, follow_redirects=True, **CREDENTIALS) as resource:
        echo = resource.post(path, {"n": 1})
    assert echo["host"] == other.host
    sent = echo["headers"]
    assert "authorization" not in sent
    assert "cookie" not in sent  # httpx sent its cookie jar here


def test_auth_option_stays_home_too(servers: list[JSONServer]) -> None:
    home, other, _ = servers
    with Resource(home.host, follow_redirects=True, auth=("user", SECRET)) as res:
        echo = res.get(redirect(f"http://{other.host}/echo"))
    assert echo["host"] == other.host
    assert "authorization" not in echo["headers"]


def test_a_redirect_home_keeps_the_credentials(server: JSONServer) -> None:
    options = {"follow_redirects": True, **CREDENTIALS}
    with Resource(server.host, **options) as resource:
        echo = resource.get(redirect("/echo"))
    assert echo["headers"]["authorization"] == f"Bearer {SECRET}"
    assert f"session={SECRET}" in echo["headers"]["cookie"]


@pytest.mark.anyio
async def test_followed_redirects_carry_no_credentials_elsewhere_async(
    servers: list[JSONServer],
) -> None:
    home, other, _ = servers
    path = redirect(f"http://{other.host}/echo", cookie=f"sid={SECRET}")
    options = {"follow_redirects": True, **CREDENTIALS}
    async with AsyncResources([home.host], **options) as resources:
        echo = (await resources.unicast("GET", path))()
    assert echo["host"] == other.host
    assert "authorization" not in echo["headers"]
    assert "cookie" not in echo["headers"]


def test_user_hooks_still_run(servers: list[JSONServer]) -> None:
    home, other, _ = servers
    seen: list[str] = []
    hooks = {"request": [lambda request: seen.append(str(request.url.port))]}
    options = {"follow_redirects": True, "event_hooks": hooks}
    with Resource(home.host, **options) as resource:
        resource.get(redirect(f"http://{other.host}/echo"))
    assert seen == [str(home.port), str(other.port)]


# TLS -----------------------------------------------------------------------


@pytest.fixture
def tls_server() -> Iterator[JSONServer]:
    """The JSON server over TLS, with a self-signed certificate for 127.0.0.1."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERT)
    with JSONServer(tls=context) as srv:
        yield srv


@pytest.mark.usefixtures("both_paths")
def test_tls_is_verified_by_default(tls_server: JSONServer) -> None:
    url = f"https://{tls_server.host}"
    with Resource(url) as resource, pytest.raises(jsonrest.TransportError) as info:
        resource.get("/echo")
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    with Resources([url]) as resources:  # one TLS context shared by the hosts
        with pytest.raises(jsonrest.TransportError, match="CERTIFICATE_VERIFY"):
            resources.unicast("GET", "/echo")
        with pytest.raises(jsonrest.BroadcastError):
            resources.broadcast("GET", "/echo")
    # The server itself works: trusting its certificate is enough.
    trusted = ssl.create_default_context(cafile=CERT)
    with Resource(url, verify=trusted) as resource:
        assert resource.get("/echo")["host"] == tls_server.host


@pytest.mark.usefixtures("both_paths")
@pytest.mark.anyio
async def test_tls_is_verified_by_default_async(tls_server: JSONServer) -> None:
    url = f"https://{tls_server.host}"
    async with AsyncResource(url) as resource:
        with pytest.raises(jsonrest.TransportError, match="CERTIFICATE_VERIFY"):
            await resource.get("/echo")


# CR and LF never reach a header ---------------------------------------------

with_crlf = st.tuples(st.text(max_size=5), st.sampled_from(["\r", "\n", "\r\n"]))
injected = st.builds(lambda pair, tail: pair[0] + pair[1] + tail, with_crlf, st.text())


@FUZZ
@given(name=st.sampled_from(["X-A", "x"]) | injected, value=st.text() | injected)
def test_crlf_in_headers_is_refused_before_sending(
    server: JSONServer, name: str, value: str
) -> None:
    if "\r" not in name + value and "\n" not in name + value:
        return
    with Resource(server.host) as resource, pytest.raises(ValueError):
        resource.request("GET", "/echo", headers={name: value})
    with pytest.raises(ValueError):
        Resources([server.host], headers={name: value})
    assert server.connections == 0


@pytest.mark.parametrize(
    ("method", "headers"),
    [("GET", {"X-A\n": "v"}), ("GET", {"X-A\r\n": "v"}), ("GET\n", None)],
)
def test_a_final_newline_is_no_token(
    server: JSONServer, method: str, headers: Any
) -> None:
    # A regex ending in "$" let these through, for h11 to refuse mid-send.
    with Resource(server.host) as resource, pytest.raises(ValueError):
        resource.request(method, "/echo", headers=headers)
    with pytest.raises(ValueError):
        Resource(server.host, headers=headers or {"X-A\n": "v"})
    assert server.connections == 0


# Log lines -----------------------------------------------------------------


def secrets_logged(records: list[logging.LogRecord]) -> list[str]:
    """Every jsonrest log line (with its traceback) that holds the secret."""
    formatter = logging.Formatter()
    return [
        line
        for record in records
        if record.name.startswith("jsonrest")
        for line in [formatter.format(record)]
        if SECRET in line or "token=" in line
    ]


def traffic(resources: Resources) -> None:
    """Successes, failovers, failures and broadcasts, all carrying secrets."""
    headers = {"Authorization": f"Bearer {SECRET}", "Cookie": f"sid={SECRET}"}
    body = {"password": SECRET}
    for path in (f"/echo?token={SECRET}", f"/status/503?token={SECRET}", "/drop"):
        for method in ("GET", "POST"):
            try:
                resources.unicast(
                    method, path, body, params={"token": SECRET}, headers=headers
                )
            except jsonrest.Error:
                pass
        try:
            resources.broadcast("PUT", path, body, headers=headers)
        except jsonrest.Error:
            pass


@pytest.mark.usefixtures("both_paths")
def test_logs_hold_no_credentials_queries_or_bodies(
    servers: list[JSONServer], closed_port: ClosedPort, caplog: pytest.LogCaptureFixture
) -> None:
    hosts = [closed_port.host, *(srv.host for srv in servers)]
    caplog.set_level(logging.DEBUG)
    with Resources(hosts, auth=("user", SECRET), timeout=2) as resources:
        traffic(resources)
    names = {record.name for record in caplog.records}
    assert "jsonrest" in names
    levels = {r.levelname for r in caplog.records if r.name == "jsonrest"}
    assert {"DEBUG", "INFO", "WARNING"} <= levels  # attempts, health, failovers
    assert secrets_logged(caplog.records) == []


@pytest.mark.usefixtures("both_paths")
@pytest.mark.anyio
async def test_logs_hold_no_credentials_async(
    servers: list[JSONServer], closed_port: ClosedPort, caplog: pytest.LogCaptureFixture
) -> None:
    hosts = [closed_port.host, *(srv.host for srv in servers)]
    caplog.set_level(logging.DEBUG)
    headers = {"Authorization": f"Bearer {SECRET}"}
    async with AsyncResources(hosts, headers=headers) as resources:
        for path in (f"/echo?token={SECRET}", "/drop"):
            try:
                await resources.unicast("GET", path, {"password": SECRET})
                await resources.broadcast("GET", path, params={"token": SECRET})
            except jsonrest.Error:
                pass
    assert any(r.name == "jsonrest" for r in caplog.records)
    assert secrets_logged(caplog.records) == []
