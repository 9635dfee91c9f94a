"""`AsyncResource`: JSON over HTTP with one host."""

from __future__ import annotations

import ssl
import time
from types import TracebackType
from typing import Any

import httpx

from .._body import BodyBudget
from .._concurrency import AsyncGate, async_shield
from .._deadline import Deadline
from .._faults import as_error
from .._request import Headers, Request, prepare
from .._resource_base import ResourceBase, lane_limits
from .._response import Response
from ._lanes import AsyncLanes

__all__ = ["AsyncResource"]


class AsyncResource(ResourceBase[httpx.AsyncClient]):
    """A JSON client for one host, over one pooled `httpx.AsyncClient`.

    `host` is `name`, `name:port`, `[ipv6]:port` or `http(s)://name[:port]`.
    Options: `timeout` (seconds or an `httpx.Timeout`), `limit` (connections kept
    alive for reuse; 0 opens a new connection for every request), `headers`,
    `max_body` (bytes of decoded body accepted per response; None for no limit),
    `max_in_flight` (requests let into the httpx client at once, the rest wait
    their turn up to the pool timeout; None, the default, for no cap), and any
    other keyword of `httpx.AsyncClient` (`auth`, `verify`, `transport`,
    `event_hooks`, ...). The client is created on first use; unless given its
    own `transport` or `http2=True`, it spreads requests over small pools
    ("lanes") of up to 4 connections, which keeps httpx fast under concurrency.
    """

    def _make_gate(self, limit: int, timeout: float | None) -> AsyncGate:
        return AsyncGate(limit, timeout)

    def _make_lanes(
        self, verify: ssl.SSLContext, http1: bool, expiry: float | None
    ) -> AsyncLanes:
        def lane(keepalive: int) -> httpx.AsyncHTTPTransport:
            # The transport httpx would make, keeping `keepalive` connections.
            return httpx.AsyncHTTPTransport(
                verify=verify, http1=http1, limits=lane_limits(keepalive, expiry)
            )

        return AsyncLanes(lane, self._lanes)

    def _make_client(self, options: dict[str, Any]) -> httpx.AsyncClient:
        client = httpx.AsyncClient(**options)
        if client.follow_redirects:  # else no request leaves its origin
            client.event_hooks["request"].append(self._keep_credentials)
        return client

    async def _keep_credentials(self, request: httpx.Request) -> None:
        self._strip_credentials(request)

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Any = None,
        headers: Headers | None = None,
    ) -> Response:
        """Send one request and return its `Response`, whatever its status.

        Raises `TransportError` (or its subclass `Timeout`) when no complete
        answer arrives, `ValueError` / `TypeError` for bad input before sending.
        """
        return await self.send(prepare(method, path, body, params, headers))

    async def send(
        self, request: Request, timeout: Any = None, deadline: Deadline | None = None
    ) -> Response:
        """Send a prepared `Request` to this host; `timeout` overrides the option.

        `deadline` bounds the whole exchange: the wait for a turn under
        `max_in_flight`, and a body still arriving then, however steadily,
        raises `Timeout`.
        """
        gate = self._gate
        if gate is None:
            return await self._send(request, timeout, deadline)
        try:
            async with gate.turn(None if deadline is None else deadline.remaining()):
                return await self._send(request, timeout, deadline)
        except httpx.PoolTimeout as exc:  # raised by the gate itself
            raise as_error(exc, self.host) from exc

    async def _send(
        self, request: Request, timeout: Any, deadline: Deadline | None
    ) -> Response:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self!r} is closed")
            self._active += 1
        try:
            return await self._exchange(request, timeout, deadline)
        finally:
            with self._lock:
                self._active -= 1
                last = self._closed and not self._active
                client = self._client if last else None
                if last:
                    self._client = None
            if client is not None:  # closed while we ran: we close the pool
                with async_shield():
                    await client.aclose()

    async def _exchange(
        self, request: Request, timeout: Any, deadline: Deadline | None
    ) -> Response:
        client = self.client
        try:
            http_request = client.build_request(
                request.method,
                self.url + request.target,
                content=request.content,
                headers=request.headers,
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
            )
        except httpx.InvalidURL as exc:  # too long: the caller's path or params
            raise ValueError(f"invalid request URL: {exc}") from exc
        start = time.perf_counter()
        try:
            http_response = await client.send(http_request, stream=True)
        except httpx.HTTPError as exc:
            raise as_error(exc, self.host) from exc
        try:
            body = await self._read(http_response, deadline)
        except httpx.HTTPError as exc:
            raise as_error(exc, self.host, http_response.status_code) from exc
        finally:
            await http_response.aclose()
        return Response(
            http_response.status_code,
            body,
            headers=http_response.headers,
            reason=http_response.reason_phrase,
            host=self.host,
            elapsed=time.perf_counter() - start,
        )

    async def _read(
        self, http_response: httpx.Response, deadline: Deadline | None
    ) -> bytes:
        if not BodyBudget.needs_stream(self.max_body, deadline):
            return await http_response.aread()
        budget = BodyBudget(
            self.host,
            self.max_body,
            deadline,
            http_response.headers.get("content-encoding"),
        )
        stream = (
            http_response.aiter_raw() if budget.raw else http_response.aiter_bytes()
        )
        try:
            async for chunk in stream:
                if not budget.done and not budget.feed(chunk):
                    # Closing the stream, then reading on, ends httpx's chain of
                    # generators with an error rather than abandoning it half-run
                    # (trio warns about abandoned async generators).
                    await http_response.aclose()
        except httpx.HTTPError as exc:
            if not budget.failed(exc):
                raise
        return budget.result()

    async def __call__(
        self, method: str, path: str, body: Any = None, **params: Any
    ) -> Any:
        """Send a request and return its evaluated body; `StatusError` unless 2xx."""
        response = await self.request(method, path, body, params=params)
        return response()

    async def get(self, path: str, /, **params: Any) -> Any:
        """GET `path` with query `params`; return the evaluated body."""
        return await self("GET", path, **params)

    async def delete(self, path: str, /, **params: Any) -> Any:
        """DELETE `path` with query `params`; return the evaluated body."""
        return await self("DELETE", path, **params)

    async def post(self, path: str, body: Any = None, /, **params: Any) -> Any:
        """POST `body` as JSON to `path`; return the evaluated body."""
        return await self("POST", path, body, **params)

    async def put(self, path: str, body: Any = None, /, **params: Any) -> Any:
        """PUT `body` as JSON to `path`; return the evaluated body."""
        return await self("PUT", path, body, **params)

    async def patch(self, path: str, body: Any = None, /, **params: Any) -> Any:
        """PATCH `body` as JSON to `path`; return the evaluated body."""
        return await self("PATCH", path, body, **params)

    async def aclose(self) -> None:
        """Close the connection pool; later calls raise `RuntimeError`.

        Requests in flight are not cut off: the pool closes when the last of
        them ends. (Closing it under them would strand connections they are
        opening, and in threads close sockets that another thread is using.)
        """
        with self._lock:
            self._closed = True
            client = None
            if not self._active:
                client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> AsyncResource:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
