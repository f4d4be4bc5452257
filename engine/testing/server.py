"""The HTTP server under both fake providers: plain asyncio on 127.0.0.1, state kept, answers scripted.

A fake runs in a background thread of the test process (``with FakeX() as
fake:``) or on its own (``python -m engine.testing.sendgrid --port P``, for
benchmarks); `engine.testing.wire` speaks HTTP for it.
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
from typing import Any, Generic, Self, TypeVar

from engine.testing.wire import Answer, Headers, HttpConnection

__all__ = ["Answer", "FakeServer", "Headers", "Recorded", "Rule"]


@dataclass(frozen=True)
class Recorded:
    """One request as the fake received it; `body` is parsed (JSON or form)."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Headers
    body: Any
    raw: bytes = field(repr=False, default=b"")


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
        self.connections: set[asyncio.Transport] = set()
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
                    lambda: HttpConnection(self), "127.0.0.1", self._port, backlog=1024
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
            for transport in list(self.connections):
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


def arguments(description: str) -> argparse.ArgumentParser:
    """Return the command-line parser shared by the ``python -m`` entry points."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every answer")
    parser.add_argument("--no-record", action="store_true", help="keep no request log")
    return parser


def serve_forever(fake: FakeServer[Any]) -> None:
    """Serve `fake` in the foreground until SIGINT/SIGTERM; prints its URL first."""
    fake.start()
    print(fake.url, flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    fake.stop()
