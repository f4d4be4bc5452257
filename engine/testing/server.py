"""The HTTP server under both fake providers: aiohttp on 127.0.0.1, state kept, answers scripted.

A fake runs in a background thread of the test process (``with FakeX() as
fake:``) or on its own (``python -m engine.testing.sendgrid --port P``, for
benchmarks). Simulated latency is an ``asyncio.sleep`` in the handler, so it
holds no other request back.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web


@dataclass(frozen=True)
class Recorded:
    """One request as the fake received it; `body` is parsed (JSON or form)."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: Any


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


class FakeServer:
    """An aiohttp application with recorded requests, scripted answers and latency.

    Subclasses add routes in `routes()` and decide answers in their handlers
    with `scripted(recorded)` first.
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
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

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

    # -- lifecycle ----------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def application(self) -> web.Application:
        """Return the aiohttp application (bodies up to 64 MB reach the handler)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self.routes(app)
        return app

    async def _start(self) -> None:
        # access_log off: a line per request would cost more than the request.
        self._runner = web.AppRunner(self.application(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port, backlog=1024)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self._port = server.sockets[0].getsockname()[1]

    def start(self) -> Self:
        """Serve in a background thread; returns once the port is bound."""
        self._loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        started.wait(10)
        return self

    def stop(self) -> None:
        """Stop serving; requests still sleeping in their latency are dropped."""
        if self._loop is None or self._runner is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        future.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop.close()
        self._loop = self._runner = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def respond(self, answer: Answer) -> web.Response:
        """Wait the latency (without blocking other requests), then answer."""
        wait = self.latency + answer.delay
        if wait > 0:
            await asyncio.sleep(wait)
        if isinstance(answer.body, bytes | str) or answer.body is None:
            return web.Response(status=answer.status, headers=answer.headers, body=answer.body)
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)


def recorded(request: web.Request, body: Any) -> Recorded:
    """Return the `Recorded` form of an aiohttp request with its parsed body."""
    return Recorded(request.method, request.path, dict(request.query), dict(request.headers), body)


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
