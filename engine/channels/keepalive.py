"""A keep-alive transport for the official SendGrid client (`python_http_client`).

The client builds a urllib opener (~0.35 ms CPU) and opens a new TCP (and
TLS) connection for every request; at one request per personalised e-mail
that caps a dispatcher at a few hundred e-mails per second.
`KeepAliveClient` keeps the client's request building (URL, headers, JSON
body, `Response`, the `HTTPError` classes) and swaps only the transport: one
`http.client` connection per thread and host, reused across requests.

Errors read as before: a failure while connecting is a
`urllib.error.URLError` (the request never left); anything after the
request was written (timeout, reset) is raised as is (`OSError`,
`http.client.HTTPException`: it may have been taken). A kept connection the
server has closed meanwhile is noticed before writing and replaced, so a
request is never written twice.
"""

from __future__ import annotations

import http.client
import json
import select
import threading
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import python_http_client
from python_http_client.exceptions import HTTPError, err_dict

Connection = http.client.HTTPConnection


class ConnectionPool:
    """One kept-alive connection per (thread, scheme, host): threads never share one."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[Connection] = []

    def connection(self, scheme: str, netloc: str, timeout: float | None) -> Connection:
        """Return this thread's open connection to `netloc`; raises `URLError` if it cannot connect."""
        kept: dict[tuple[str, str], Connection] = self._local.__dict__.setdefault("kept", {})
        conn = kept.get((scheme, netloc))
        if conn is not None and (conn.sock is None or _dropped(conn)):
            conn.close()
            conn = None
        if conn is None:
            kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            conn = kind(netloc, timeout=timeout)
            try:
                conn.connect()
            except OSError as error:
                conn.close()
                raise urllib.error.URLError(error) from error
            kept[(scheme, netloc)] = conn
            with self._lock:
                self._all.append(conn)
        elif conn.sock is not None:
            conn.sock.settimeout(timeout)
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


class KeepAliveClient(python_http_client.Client):
    """`python_http_client.Client` whose requests go over `pool` (see the module docstring)."""

    def __init__(self, *args: Any, pool: ConnectionPool | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool = pool or ConnectionPool()

    def _build_client(self, name: str | None = None) -> KeepAliveClient:
        # The base class builds a plain Client for each URL segment; keep ours.
        url_path = [*self._url_path, name] if name else self._url_path
        return KeepAliveClient(
            host=self.host,
            version=self._version,
            request_headers=self.request_headers,
            url_path=url_path,
            append_slash=self.append_slash,
            timeout=self.timeout,
            pool=self.pool,
        )

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
            request = urllib.request.Request(
                self._build_url(query_params), headers=self.request_headers, data=data
            )
            request.get_method = lambda: method  # type: ignore[method-assign]
            return python_http_client.client.Response(
                self._make_request(None, request, timeout=timeout)
            )

        return http_request

    def _make_request(
        self, opener: Any, request: urllib.request.Request, timeout: float | None = None
    ) -> _Read:
        """Return the answer (read in full) over a kept connection; raise `HTTPError` for 4xx/5xx."""
        parts = urlsplit(request.full_url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn = self.pool.connection(parts.scheme, parts.netloc, timeout or self.timeout)
        try:
            conn.request(request.get_method(), target, request.data, dict(request.header_items()))
            response = conn.getresponse()
            body = response.read()
        except BaseException:
            self.pool.discard(parts.scheme, parts.netloc)
            raise
        if response.will_close:
            self.pool.discard(parts.scheme, parts.netloc)
        if response.status >= 400:
            error = err_dict.get(response.status, HTTPError)
            raise error(response.status, response.reason, body, response.headers)
        return _Read(response, body)


class _Read:
    """An answer whose body was already read (the connection is free for the next request).

    What `python_http_client.client.Response` reads of a urllib answer.
    """

    def __init__(self, response: http.client.HTTPResponse, body: bytes) -> None:
        self.status, self.headers, self._body = response.status, response.headers, body

    def read(self) -> bytes:
        return self._body

    def getcode(self) -> int:
        return self.status

    def info(self) -> http.client.HTTPMessage:
        return self.headers


def _dropped(conn: Connection) -> bool:
    """True when the peer has closed an idle kept connection (it would read EOF now)."""
    assert conn.sock is not None
    poller = select.poll()  # not select(): file numbers may exceed 1024
    poller.register(conn.sock, select.POLLIN)
    return bool(poller.poll(0))
