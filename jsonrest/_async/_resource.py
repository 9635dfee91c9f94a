"""`AsyncResource`: JSON over HTTP with one host."""

from __future__ import annotations

import ssl
import time
from types import TracebackType
from typing import Any

import httpx

from .._body import BodyBudget
from .._concurrency import AsyncGate, async_running_loop, async_shield
from .._deadline import Deadline
from .._exceptions import Timeout
from .._faults import as_error
from .._options import DEFAULT, check_timeout
from .._request import Headers, Request, prepare, query_params
from .._request import body_argument as _body
from .._resource_base import ResourceBase, lane_limits
from .._response import Response
from ._lanes import AsyncLanes
from ._stream import AsyncLineStream

__all__ = ["AsyncResource"]


class AsyncResource(ResourceBase[httpx.AsyncClient]):
    """A JSON client for one host, over one pooled `httpx.AsyncClient`.

    `host` is `name`, `name:port`, `[ipv6]:port` or `http(s)://name[:port]`,
    optionally with a base path that prefixes every path (`http://h/api/v2`).
    Options: `timeout` (seconds or an `httpx.Timeout`), `limit` (connections kept
    alive for reuse; 0 opens a new connection for every request), `headers`,
    `max_body` (bytes of decoded body accepted per response; None for no limit),
    `max_in_flight` (requests let into the httpx client at once, the rest wait
    their turn up to the pool timeout; None, the default, for no cap), and any
    other keyword of `httpx.AsyncClient` (`auth`, `verify`, `transport`,
    `event_hooks`, ...). The client is created on first use; unless given its
    own `transport` or `http2=True`, it spreads requests over small pools
    ("lanes") of up to 2 connections, which keeps httpx fast under concurrency.
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

    def _running_loop(self) -> object:
        return async_running_loop()

    async def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        content: bytes | str | None = None,
        params: Any = None,
        headers: Headers | None = None,
        timeout: Any = DEFAULT,
    ) -> Response:
        """Send one request and return its `Response`, whatever its status.

        `json` is sent as JSON, `content` as it is; `timeout` (seconds, None
        or an `httpx.Timeout`) replaces the resource's for this request.
        Raises `TransportError` (or its subclass `Timeout`) when no complete
        answer arrives, `ValueError` / `TypeError` for bad input before sending.
        """
        request = prepare(method, path, json, params, headers, content)
        if timeout is not DEFAULT:
            timeout = check_timeout(timeout)
        return await self.send(request, timeout)

    async def send(
        self,
        request: Request,
        timeout: Any = DEFAULT,
        deadline: Deadline | None = None,
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
            raise as_error(
                exc, self.host, method=request.method, path=request.target
            ) from exc

    async def _send(
        self, request: Request, timeout: Any, deadline: Deadline | None
    ) -> Response:
        self._enter()
        try:
            return await self._exchange(request, timeout, deadline)
        finally:
            await self._leave()

    async def _leave(self) -> None:
        """Count a request's end; the last one out after `aclose` closes the
        pool (closing it under requests in flight would strand them)."""
        client = self._ended()
        if client is not None:
            with async_shield():
                await client.aclose()

    async def _begin(
        self, client: httpx.AsyncClient, request: Request, timeout: Any
    ) -> httpx.Response:
        """Send `request`; return the response with its body unread.

        On the direct path the request goes straight to the client's
        transport; otherwise through the client (auth, cookies, hooks, ...).
        """
        if not self._direct:
            http_request = self._build(client, request, timeout)
            try:
                return await client.send(http_request, stream=True)
            except httpx.HTTPError as exc:
                raise as_error(
                    exc, self.host, method=request.method, path=request.target
                ) from exc
        http_request = self._direct_request(client, request, timeout)
        try:
            http_response: httpx.Response = await self._transport.handle_async_request(
                http_request
            )
        except httpx.HTTPError as exc:
            if isinstance(exc, httpx.RequestError):
                exc.request = http_request  # as the client sets it
            raise as_error(
                exc, self.host, method=request.method, path=request.target
            ) from exc
        http_response.request = http_request
        return http_response

    async def _exchange(
        self, request: Request, timeout: Any, deadline: Deadline | None
    ) -> Response:
        client = self.client  # made before the clock starts: elapsed is the exchange
        if deadline is not None and deadline.expired():
            # Making the client took the time left (a thread is not cancelled
            # meanwhile): nothing may be sent past the deadline.
            raise Timeout(
                deadline.message(f"{request.method} {request.target.split('?')[0]}")
                + f" on {self.host}",
                host=self.host,
            )
        start = time.perf_counter()
        http_response = await self._begin(client, request, timeout)
        try:
            body = await self._read(http_response, deadline)
        except httpx.HTTPError as exc:
            raise as_error(
                exc,
                self.host,
                http_response.status_code,
                method=request.method,
                path=request.target,
            ) from exc
        finally:
            await http_response.aclose()
        return Response(
            http_response.status_code,
            body,
            headers=http_response.headers,
            reason=http_response.reason_phrase,
            host=self.host,
            elapsed=time.perf_counter() - start,
            method=request.method,
            path=request.target,  # Response keeps the path, not the query
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
        stream: Any
        if not budget.reads_raw(http_response.is_stream_consumed):
            stream = http_response.aiter_bytes()
        elif self._direct:
            # The transport's own stream: the response is ours alone, so
            # httpx's bookkeeping around it (`aiter_raw`) has nothing to do.
            stream = http_response.stream
        else:
            stream = http_response.aiter_raw()
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
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        content: bytes | str | None = None,
        params: Any = None,
        headers: Headers | None = None,
        timeout: Any = DEFAULT,
        **query: Any,
    ) -> Any:
        """Send a request and return its evaluated body; `StatusError` unless 2xx.

        Keywords other than the named ones are query parameters, after
        `params` (`api("GET", "/search", q="plum")`); httpx's request options
        that jsonrest does not take per call (`auth`, `data`, ...) raise
        `TypeError` rather than being sent as a query.
        """
        response = await self.request(
            method,
            path,
            json,
            content=content,
            params=query_params(params, query),
            headers=headers,
            timeout=timeout,
        )
        return response()

    async def get(
        self,
        path: str,
        /,
        *,
        params: Any = None,
        headers: Headers | None = None,
        timeout: Any = DEFAULT,
        **query: Any,
    ) -> Any:
        """GET `path`; return the evaluated body (see `__call__` for keywords)."""
        return await self(
            "GET", path, params=params, headers=headers, timeout=timeout, **query
        )

    async def delete(
        self,
        path: str,
        /,
        *,
        params: Any = None,
        headers: Headers | None = None,
        timeout: Any = DEFAULT,
        **query: Any,
    ) -> Any:
        """DELETE `path`; return the evaluated body (see `__call__`)."""
        return await self(
            "DELETE", path, params=params, headers=headers, timeout=timeout, **query
        )

    async def post(
        self,
        path: str,
        json: Any = None,
        /,
        *,
        content: bytes | str | None = None,
        params: Any = None,
        headers: Headers | None = None,
        timeout: Any = DEFAULT,
        **query: Any,
    ) -> Any:
        """POST `json` (or `content`) to `path`; return the evaluated body.

        `json` may also be given as `json=`; see `__call__` for the keywords.
        """
        return await self(
            "POST",
            path,
            _body(json, query),
            content=content,
            params=params,
            headers=headers,
            timeout=timeout,
            **query,
        )

    async def put(
        self,
        path: str,
        json: Any = None,
        /,
        *,
        content: bytes | str | None = None,
        params: Any = None,
        headers: Headers | None = None,
        timeout: Any = DEFAULT,
        **query: Any,
    ) -> Any:
        """PUT `json` (or `content`) to `path`; return the evaluated body.

        `json` may also be given as `json=`; see `__call__` for the keywords.
        """
        return await self(
            "PUT",
            path,
            _body(json, query),
            content=content,
            params=params,
            headers=headers,
            timeout=timeout,
            **query,
        )

    async def patch(
        self,
        path: str,
        json: Any = None,
        /,
        *,
        content: bytes | str | None = None,
        params: Any = None,
        headers: Headers | None = None,
        timeout: Any = DEFAULT,
        **query: Any,
    ) -> Any:
        """PATCH `json` (or `content`) to `path`; return the evaluated body.

        `json` may also be given as `json=`; see `__call__` for the keywords.
        """
        return await self(
            "PATCH",
            path,
            _body(json, query),
            content=content,
            params=params,
            headers=headers,
            timeout=timeout,
            **query,
        )

    def stream(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        content: bytes | str | None = None,
        params: Any = None,
        headers: Headers | None = None,
        timeout: Any = DEFAULT,
    ) -> AsyncLineStream:
        """Send one request and read its response line by line, as it arrives.

        For a long or endless response (a watch, NDJSON, server-sent lines):

            async with api.stream("GET", "/v3/watch") as lines:
                async for item in lines:  # JSON values, or str lines
                    ...

        The request is sent on entering the `async with`, which raises
        `StatusError` for a status other than 2xx; leaving it closes the
        connection. `timeout` (seconds, None or an `httpx.Timeout`; the
        resource's by default) bounds each wait for the next chunk, not the
        stream. Arguments are checked as `request` checks them, at once. See
        `AsyncLineStream` for what each line gives.
        """
        request = prepare(method, path, json, params, headers, content)
        if timeout is not DEFAULT:
            timeout = check_timeout(timeout)
        return AsyncLineStream(self, request, timeout)

    async def _open(self, request: Request, timeout: Any) -> httpx.Response:
        """Send `request` for `stream`; return the response, its body unread.

        The request counts as in flight, as in `_send`, until `_leave`.
        """
        self._enter()
        try:
            return await self._begin(self.client, request, timeout)
        except BaseException:
            await self._leave()
            raise

    async def aclose(self) -> None:
        """Close the connection pool; later calls raise `RuntimeError`.

        Requests in flight are not cut off: the pool closes when the last of
        them ends. (Closing it under them would strand connections they are
        opening, and in threads close sockets that another thread is using.)
        """
        client = self._closing()
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
