"""Kept-alive connections per thread, and the official SendGrid client (`python_http_client`) on them.

The client builds a urllib opener (~0.35 ms CPU) and opens a new TCP (and
TLS) connection for every request; at one request per personalised e-mail
that caps a dispatcher at a few hundred e-mails per second.
`KeepAliveClient` keeps the client's request building (URL, headers, JSON
body, `Response`, the `HTTPError` classes) and swaps only the transport
(an `Exchanger`): by default a `ConnectionPool`, one
`engine.channels.http11.Connection` per thread and host reused across
requests (the Twilio client's transport, `engine.channels.twilio_http`,
uses it too). `SendGridChannel` gives it a recorder instead and sends the
recorded requests together (`engine.channels.multiplex`).

Errors read as before: a failure while connecting is a
`urllib.error.URLError` (the request never left); anything after the
request was written (timeout, reset) is raised as is (`OSError`,
`http.client.HTTPException`: it may have been taken). A kept connection the
server has closed meanwhile is noticed before writing and replaced, so a
request is never written twice.
"""

from __future__ import annotations

import json
import threading
import urllib.error
from typing import Any, Protocol
from urllib.parse import urlsplit

import python_http_client
from python_http_client.exceptions import HTTPError, err_dict

from engine.channels.http11 import ConnectError, Connection, Headers, Reply, Request


class ConnectionPool:
    """One kept-alive connection per (thread, scheme, host): threads never share one."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[Connection] = []

    def exchange(self, request: Request, timeout: float | None) -> Reply:
        """Send `request` over this thread's connection to its host; return the answer.

        Raises `ConnectError` when it cannot connect (the request never
        left); anything raised later leaves the connection closed.
        """
        parts = urlsplit(request.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn = self.connection(parts.scheme, parts.netloc, timeout)
        try:
            reply = conn.request(request.method, target, request.headers, request.body, timeout)
        except BaseException:
            self.discard(parts.scheme, parts.netloc)
            raise
        if reply.will_close:
            self.discard(parts.scheme, parts.netloc)
        return reply

    def connection(self, scheme: str, netloc: str, timeout: float | None) -> Connection:
        """Return this thread's open connection to `netloc`; raises `ConnectError`."""
        kept: dict[tuple[str, str], Connection] = self._local.__dict__.setdefault("kept", {})
        conn = kept.get((scheme, netloc))
        if conn is not None and conn.dropped():
            conn.close()
            conn = None
        if conn is None:
            conn = Connection(scheme, netloc, timeout)
            conn.open()
            kept[(scheme, netloc)] = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def discard(self, scheme: str, netloc: str) -> None:
        """Close this thread's connection to `netloc` (after an error: its state is unknown)."""
        kept: dict[tuple[str, str], Connection] = self._local.__dict__.get("kept", {})
        conn = kept.pop((scheme, netloc), None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close every connection of every thread."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


class Exchanger(Protocol):
    """Where `KeepAliveClient` hands a built request: a `ConnectionPool`, or a recorder."""

    def exchange(self, request: Request, timeout: float | None) -> Reply: ...
    def close(self) -> None: ...


class KeepAliveClient(python_http_client.Client):
    """`python_http_client.Client` whose requests go over `pool` (see the module docstring)."""

    def __init__(self, *args: Any, pool: Exchanger | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool: Exchanger = pool or ConnectionPool()
        self._children: dict[str, KeepAliveClient] = {}

    def _build_client(self, name: str | None = None) -> KeepAliveClient:
        # The base class builds a plain Client for each URL segment; keep ours,
        # built once per segment (``client.mail.send`` is the same every time).
        child = self._children.get(name) if name else None
        if child is None:
            url_path = [*self._url_path, name] if name else self._url_path
            child = KeepAliveClient(
                host=self.host,
                version=self._version,
                request_headers=self.request_headers,
                url_path=url_path,
                append_slash=self.append_slash,
                timeout=self.timeout,
                pool=self.pool,
            )
            if name:
                child = self._children.setdefault(name, child)
        return child

    def __getattr__(self, name: str) -> Any:
        if name not in self.methods:
            return super().__getattr__(name)
        method = name.upper()

        def http_request(
            request_body: Any = None,
            query_params: Any = None,
            request_headers: Any = None,
            timeout: float | None = None,
            **_: Any,
        ) -> python_http_client.client.Response:
            # As the base class does it, minus the urllib opener it would build.
            if request_headers:
                self._update_headers(request_headers)
            data = None
            if request_body is not None:
                if self.request_headers.get("Content-Type", "application/json") != (
                    "application/json"
                ):
                    data = request_body.encode("utf-8")
                else:
                    self.request_headers.setdefault("Content-Type", "application/json")
                    data = json.dumps(request_body).encode("utf-8")
            url = self._build_url(query_params)
            return python_http_client.client.Response(
                self._make_request(method, url, data, timeout or self.timeout)
            )

        return http_request

    def _make_request(  # type: ignore[override]
        self, method: str, url: str, data: bytes | None, timeout: float | None
    ) -> _Read:
        """Return the answer over a kept connection; raise `HTTPError` for 4xx/5xx."""
        try:
            request = Request(method, url, dict(self.request_headers), data)
            reply = self.pool.exchange(request, timeout)
        except ConnectError as error:
            raise urllib.error.URLError(error.__cause__ or error) from error
        if reply.status >= 400:
            error = err_dict.get(reply.status, HTTPError)
            raise error(reply.status, reply.reason, reply.body, reply.headers)
        return _Read(reply)


class _Read:
    """An answer whose body was already read (the connection is free for the next request).

    What `python_http_client.client.Response` reads of a urllib answer.
    """

    def __init__(self, reply: Reply) -> None:
        self.status, self.headers, self._body = reply.status, reply.headers, reply.body

    def read(self) -> bytes:
        return self._body

    def getcode(self) -> int:
        return self.status

    def info(self) -> Headers:
        return self.headers
