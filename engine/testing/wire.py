"""Just enough HTTP/1.1 for the providers' clients, on plain asyncio.

Content-Length bodies, keep-alive and ``Connection: close``; no chunked
bodies (answered 411). A request costs tens of microseconds where a web
framework costs several hundred, so one core serves thousands a second.
Latency is a timer on the event loop: it holds no other request back.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol
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


class Handler(Protocol):
    """What a connection needs from the fake it serves."""

    latency: float
    connections: set[asyncio.Transport]

    def answer(
        self, method: str, path: str, query: Mapping[str, str], headers: Headers, raw: bytes
    ) -> Answer: ...


class HttpConnection(asyncio.Protocol):
    """One client connection: parses requests one at a time, answers after the latency."""

    def __init__(self, fake: Handler) -> None:
        self.fake = fake
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False  # a request is waiting for its answer; later bytes wait too

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.fake.connections.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.fake.connections.discard(self.transport)
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
