"""Many HTTP/1.1 requests in flight at once, on one asyncio loop in its own thread.

With one request per personalised e-mail and 50 ms or more per round trip,
a dispatcher needs hundreds of requests open at once. A thread each costs
CPU in switches and GIL hand-offs (about half the channel's CPU at 128
threads); here one event loop drives up to `limit` kept-alive connections,
every request written whole and every answer parsed by
`engine.channels.http11.read_answer` once it has arrived.

`exchange_all` returns, per request in order, the `Reply` or the exception
that stands for it: `ConnectError` when no connection could be opened (the
request never left), `TimeoutError`, `OSError` or `http.client.HTTPException`
after it was written (it may have been taken). A kept connection the server
closed while idle is dropped before anything is written on it, so a request
is never written twice. Nothing is built until the first request.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import select
import ssl
import threading
import weakref
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from engine.channels.http11 import (
    ConnectError,
    Incomplete,
    Received,
    Reply,
    Request,
    default_tls,
    read_answer,
    request_head,
)


class Multiplexer:
    """Requests over up to `limit` kept-alive connections at once (see the module docstring)."""

    def __init__(
        self, limit: int, timeout: float | None, tls: ssl.SSLContext | None = None
    ) -> None:
        self.limit, self.timeout = limit, timeout
        self.tls = tls  # for https; default: the system's trusted CAs
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._hosts: dict[tuple[str, str], _Host] = {}

    def exchange_all(self, requests: Sequence[Callable[[], Request]]) -> list[Reply | Exception]:
        """Make and send every request, `limit` at a time; the answers (or errors) in order.

        Each request is made (called) on the loop's thread just before it
        is sent, so the first ones are in flight while the rest are made.
        """
        if not requests:
            return []
        loop = self._started()
        return asyncio.run_coroutine_threadsafe(self._all(requests), loop).result()

    @property
    def connections(self) -> int:
        """Connections open now (kept idle or in use)."""
        return sum(len(host.open) for host in self._hosts.values())

    def close(self) -> None:
        """Close every connection and stop the loop (a later request starts it again)."""
        with self._lock:
            loop, self._loop = self._loop, None
            thread, self._thread = self._thread, None
        if loop is not None:
            _stop(loop, self._hosts)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _slots(self) -> asyncio.Semaphore:
        """Requests open at once (all hosts: the dispatcher talks to one)."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.limit)
        return self._semaphore

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=_run, args=(loop,), name="http-mux", daemon=True)
                thread.start()
                self._loop, self._thread, self._semaphore = loop, thread, None
                # Connections close with the multiplexer, even one never closed.
                weakref.finalize(self, _stop, loop, self._hosts)
            return self._loop

    async def _all(self, requests: Sequence[Callable[[], Request]]) -> list[Reply | Exception]:
        answers = await asyncio.gather(*(self._one(r) for r in requests), return_exceptions=True)
        for answer in answers:
            if not isinstance(answer, Reply | Exception):
                raise answer  # CancelledError, KeyboardInterrupt: not an answer
        return answers  # type: ignore[return-value]

    async def _one(self, make: Callable[[], Request]) -> Reply:
        async with self._slots():
            request = make()
            parts = urlsplit(request.url)
            key = (parts.scheme, parts.netloc)
            host = self._hosts.get(key)
            if host is None:
                host = self._hosts[key] = _Host(parts.scheme, parts.netloc, self.tls)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            head = request_head(request.method, target, parts.netloc, request.headers, request.body)
            conn = await host.connection(self.timeout)
            try:
                reply = await asyncio.wait_for(
                    conn.exchange(head + (request.body or b""), request.method), self.timeout
                )
            except TimeoutError as error:
                host.drop(conn)
                raise TimeoutError(f"Read timed out after {self.timeout:g} s") from error
            except BaseException:
                host.drop(conn)
                raise
            host.done(conn, reply.will_close)
            return reply


class _Host:
    """The connections to one scheme and host: idle ones first, then new ones."""

    def __init__(self, scheme: str, netloc: str, tls: ssl.SSLContext | None) -> None:
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme {scheme!r}")
        parts = urlsplit(f"//{netloc}")
        self.name = parts.hostname or ""
        self.tls = (tls or default_tls()) if scheme == "https" else None
        self.port = parts.port or (443 if self.tls else 80)
        self.idle: list[_Connection] = []
        self.open: set[_Connection] = set()

    async def connection(self, timeout: float | None) -> _Connection:
        while self.idle:
            conn = self.idle.pop()
            if not conn.dropped():
                return conn
            self.drop(conn)
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    _Connection,
                    self.name,
                    self.port,
                    ssl=self.tls,
                    server_hostname=self.name if self.tls else None,
                ),
                timeout,
            )
        except TimeoutError as error:
            raise ConnectError(f"Connect timed out after {timeout:g} s") from error
        except OSError as error:
            # asyncio says "Connect call failed (...)"; read as the OS error, as urllib does.
            if error.errno:
                raise ConnectError(error.errno, os.strerror(error.errno)) from error
            raise ConnectError(str(error)) from error
        self.open.add(conn)
        return conn

    def done(self, conn: _Connection, will_close: bool) -> None:
        if will_close or conn.closed:
            self.drop(conn)
        else:
            self.idle.append(conn)

    def drop(self, conn: _Connection) -> None:
        conn.close()
        self.open.discard(conn)

    def close(self) -> None:
        for conn in list(self.open):
            self.drop(conn)
        self.idle.clear()


class _Connection(asyncio.Protocol):
    """One connection: writes a request, collects the answer until it parses whole."""

    def __init__(self) -> None:
        self.closed = False
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._method = "GET"
        self._waiter: asyncio.Future[Reply] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    async def exchange(self, data: bytes, method: str) -> Reply:
        assert self._transport is not None and self._waiter is None
        self._buffer.clear()
        self._method = method
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(data)
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.closed = True  # bytes nobody asked for: this connection is out of step
            self.close()
            return
        self._buffer += data
        self._parse(final=False)

    def eof_received(self) -> bool:
        self.closed = True
        return False  # close the transport: connection_lost follows

    def dropped(self) -> bool:
        """True when this idle connection is closed or the peer hung up (it would read EOF now).

        The loop may not have read the hang-up yet: a zero-timeout poll sees it.
        """
        if self.closed or self._transport is None:
            return True
        sock = self._transport.get_extra_info("socket")
        poller = select.poll()  # not select(): file numbers may exceed 1024
        poller.register(sock.fileno(), select.POLLIN)
        return bool(poller.poll(0))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            if self._buffer:
                self._parse(final=True)
            if not self._waiter.done():
                self._waiter.set_exception(
                    exc or http.client.RemoteDisconnected("the server closed the connection")
                )

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.abort()  # nothing is owed to a connection we give up

    def _parse(self, final: bool) -> None:
        assert self._waiter is not None
        try:
            reply = read_answer(Received(bytes(self._buffer), final), self._method)
        except Incomplete:
            return
        except (OSError, http.client.HTTPException) as error:
            self._waiter.set_exception(error)
            return
        self._waiter.set_result(reply)


def _run(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.close()


def _stop(loop: asyncio.AbstractEventLoop, hosts: dict[tuple[str, str], _Host]) -> None:
    """Close every connection on the loop's own thread, then stop it."""

    def shut() -> None:
        for host in hosts.values():
            host.close()
        hosts.clear()
        # One more turn so the transports' close callbacks run before the loop stops.
        loop.call_soon(loop.stop)

    with contextlib.suppress(RuntimeError):  # already closed
        loop.call_soon_threadsafe(shut)
