"""The HTTP server under both fake providers: plain asyncio on 127.0.0.1, state kept, answers scripted.

A fake runs in a background thread of the test process (``with FakeX() as
fake:``) or on its own (``python -m engine.testing.sendgrid --port P``, for
benchmarks). It speaks just enough HTTP/1.1 for the providers' clients
(Content-Length bodies, keep-alive, ``Connection: close``): a request costs
tens of microseconds, where a framework costs several hundred, so one core
serves thousands a second. Simulated latency is a timer on the event loop,
so it holds no other request back.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Generic, Self, TypeVar
from urllib.parse import parse_qsl


class Headers(dict[str, str]):
    """Request headers, looked up without regard to case (stored lower-case)."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())


@dataclass(frozen=True)
class Recorded:
    """One request as the fake received it; `body` is parsed (JSON or form)."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Headers
    body: Any
    raw: bytes = field(repr=False, default=b"")


@dataclass(frozen=True)
class Answer:
    """A scripted answer: status, headers and body (JSON-encoded when not bytes/str).

    `accept` keeps the request's messages as accepted although the answer
    says otherwise (an ambiguous failure: a 500 or a timeout after SendGrid
    or Twilio took the message). `delay` adds latency to this answer only.
    """

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    accept: bool = False
    delay: float = 0.0


Rule = Callable[[Recorded], Answer | None]
Taken = TypeVar("Taken")


class FakeServer(Generic[Taken]):
    """A small HTTP server with recorded requests, scripted answers, latency and accepted items.

    Subclasses implement `answer(method, path, query, headers, raw)`: they
    `keep` the request, check auth, then answer through `script_or`.
    """

    def __init__(self, *, port: int = 0, latency: float = 0.0, record: bool = True) -> None:
        self.latency = latency
        self.rule: Rule | None = None
        self.record = record
        self._port = port
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._queue: collections.deque[Answer] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[asyncio.Transport] = set()
        self._accepted: list[Taken] = []

    # -- what tests read and script ---------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (after `start`)."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def requests(self) -> list[Recorded]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def answer_next(self, answer: Answer, times: int = 1) -> None:
        """Answer the next `times` requests (that pass auth) with `answer`."""
        with self._lock:
            self._queue.extend([answer] * times)

    @property
    def accepted(self) -> list[Taken]:
        """Everything the fake accepted so far, in arrival order."""
        with self._lock:
            return list(self._accepted)

    def take(self, item: Taken) -> None:
        """Add an accepted message (or mail) to `accepted`."""
        with self._lock:
            self._accepted.append(item)

    def script_or(self, recorded: Recorded, own: Callable[[], Answer]) -> Answer:
        """Return the scripted answer, else the fake's `own` (which accepts when valid).

        A script with `accept` still lets `own` run, so the message is kept
        although the answer says it failed.
        """
        script = self.scripted(recorded)
        if script is not None and not script.accept:
            return script
        answer = own()
        return script or answer

    def keep(self, recorded: Recorded) -> None:
        """Add a request to the log (unless the fake was started without one)."""
        if self.record:
            with self._lock:
                self._requests.append(recorded)

    def scripted(self, recorded: Recorded) -> Answer | None:
        """Return the queued answer, else the rule's, else None (answer normally)."""
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return self.rule(recorded) if self.rule is not None else None

    def answer(
        self, method: str, path: str, query: Mapping[str, str], headers: Headers, raw: bytes
    ) -> Answer:
        """Return the answer to one request (subclasses)."""
        raise NotImplementedError

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> Self:
        """Serve in a background thread; returns once the port is bound."""
        self._loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                self._loop.create_server(
                    lambda: _Connection(self), "127.0.0.1", self._port, backlog=1024
                )
            )
            self._port = self._server.sockets[0].getsockname()[1]
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError(f"{type(self).__name__} did not start")
        return self

    def stop(self) -> None:
        """Stop serving; answers still waiting out their latency are dropped."""
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def shut() -> None:
            server.close()
            for transport in list(self._connections):
                transport.close()
            await asyncio.sleep(0)  # lets the transports close their sockets
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(shut(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()
        self._loop = self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _Connection(asyncio.Protocol):
    """One client connection: parses requests one at a time, answers after the latency."""

    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False  # a request is waiting for its answer; later bytes wait too

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.fake._connections.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.fake._connections.discard(self.transport)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._next()

    def _next(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if self.busy or end < 0 or self.transport is None:
            return
        lines = self.buffer[:end].decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = Headers()
        for line in lines[1:]:
            name, _, value = line.partition(":")
            dict.__setitem__(headers, name.strip().lower(), value.strip())
        length = int(headers.get("content-length", 0))
        if len(self.buffer) < end + 4 + length:
            return  # the body is still on its way
        raw = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        path, _, query = target.partition("?")
        close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            answer, close = Answer(411, {}, "Content-Length required"), True
        else:
            answer = self._answer(method, path, query, headers, raw)
        self.busy = True
        wait = self.fake.latency + answer.delay
        loop = asyncio.get_running_loop()
        if wait > 0:
            loop.call_later(wait, self._write, answer, close)
        else:
            self._write(answer, close)

    def _answer(self, method: str, path: str, query: str, headers: Headers, raw: bytes) -> Answer:
        try:
            return self.fake.answer(method, path, dict(parse_qsl(query)), headers, raw)
        except Exception as error:  # a broken rule must show, not hang the client
            return Answer(500, {}, f"fake server error: {error!r}")

    def _write(self, answer: Answer, close: bool) -> None:
        if self.transport is None:
            return
        body, kind = answer.body, "text/plain; charset=utf-8"
        if not isinstance(body, bytes | str | None):
            body, kind = json.dumps(body), "application/json"
        payload = body.encode() if isinstance(body, str) else body or b""
        head = [f"HTTP/1.1 {answer.status} {HTTPStatus(answer.status).phrase}"]
        head += [f"Content-Type: {kind}", f"Content-Length: {len(payload)}"]
        head += [f"{name}: {value}" for name, value in answer.headers.items()]
        if close:
            head.append("Connection: close")
        self.transport.write("\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + payload)
        self.busy = False
        if close:
            self.transport.close()
        else:
            self._next()


def form_fields(raw: bytes) -> dict[str, str]:
    """Return an ``application/x-www-form-urlencoded`` body as a dict (last value wins)."""
    return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))


def arguments(description: str) -> argparse.ArgumentParser:
    """Return the command-line parser shared by the ``python -m`` entry points."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every answer")
    parser.add_argument("--no-record", action="store_true", help="keep no request log")
    return parser


def serve_forever(fake: FakeServer) -> None:
    """Serve `fake` in the foreground until SIGINT/SIGTERM; prints its URL first."""
    fake.start()
    print(fake.url, flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    fake.stop()
