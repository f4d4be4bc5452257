"""A lean HTTP/1.1 client connection under the providers' official clients.

`http.client` spends most of a provider call's CPU on itself: a write per
header line and the `email` package parsing every answer's headers (~60 µs
a request; the dispatcher makes one per personalised e-mail or SMS). A
`Connection` writes a request in one ``sendall`` and reads the answer with
a buffered reader: status line, headers, then a ``Content-Length``,
chunked or read-until-close body. One request at a time, kept alive.

Errors say whether the request may have left: `ConnectError` (an
`OSError`) while connecting, so it certainly did not; anything after the
request was written (timeout, reset, a malformed answer) is an `OSError` or
an `http.client.HTTPException`, so it may have been taken.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

MAX_LINE: Final = 65_536  # status and header lines, as http.client
MAX_HEADERS: Final = 100
_NO_BODY: Final = frozenset({204, 304})


class ConnectError(OSError):
    """The connection could not be opened: the request never left."""


class Headers(dict[str, str]):
    """An answer's headers, looked up without regard to case (stored lower-case).

    Repeated headers are joined with ", " (RFC 9110 5.3).
    """

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())


@dataclass(frozen=True, slots=True)
class Request:
    """A request as a client built it: the absolute URL, its headers and body."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer read in full; `will_close` when the connection cannot be reused."""

    status: int
    reason: str
    headers: Headers
    body: bytes
    will_close: bool


class Connection:
    """One kept-alive HTTP/1.1 connection to `scheme://netloc` (see the module docstring)."""

    def __init__(
        self,
        scheme: str,
        netloc: str,
        timeout: float | None,
        tls: ssl.SSLContext | None = None,  # https; default: the system's trusted CAs
    ) -> None:
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme {scheme!r}")
        self.scheme, self.netloc, self.timeout = scheme, netloc, timeout
        self._tls = tls
        parts = urlsplit(f"//{netloc}")
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if scheme == "https" else 80)
        self._sock: socket.socket | None = None
        self._file: Any = None

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def open(self) -> None:
        """Connect (and TLS handshake for https); raises `ConnectError`."""
        try:
            sock = socket.create_connection((self._host, self._port), self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.scheme == "https":
                sock = (self._tls or default_tls()).wrap_socket(sock, server_hostname=self._host)
        except OSError as error:
            raise ConnectError(*error.args) from error  # reads as the error it wraps
        self._sock, self._file = sock, sock.makefile("rb")

    def dropped(self) -> bool:
        """True when the peer closed this idle connection (it would read EOF now)."""
        if self._sock is None:
            return True
        poller = select.poll()  # not select(): file numbers may exceed 1024
        poller.register(self._sock, select.POLLIN)
        return bool(poller.poll(0))

    def request(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None = None,
    ) -> Reply:
        """Write one request and read its answer; the connection must be open."""
        assert self._sock is not None, "open() first"
        wait = timeout or self.timeout
        self._sock.settimeout(wait)
        self._sock.sendall(request_head(method, target, self.netloc, headers, body) + (body or b""))
        try:
            return self._answer(method)
        except TimeoutError as error:
            raise TimeoutError(f"Read timed out after {wait:g} s") from error

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._file = None

    def _answer(self, method: str) -> Reply:
        return read_answer(self._file, method)


class Reader(Protocol):
    """What answers are read from: a buffered socket file, or bytes received so far."""

    def readline(self, limit: int = -1, /) -> bytes: ...
    def read(self, size: int = -1, /) -> bytes: ...


def read_answer(reader: Reader, method: str) -> Reply:
    """Read one answer to a `method` request: status line, headers and body."""
    status, reason, version = _status(reader)
    while 100 <= status < 200:  # 100 Continue and friends: skip to the real answer
        _headers(reader)
        status, reason, version = _status(reader)
    headers = _headers(reader)
    connection = headers.get("connection", "").lower()
    will_close = "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
    if method == "HEAD" or status in _NO_BODY:
        return Reply(status, reason, headers, b"", will_close)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return Reply(status, reason, headers, _chunked(reader), will_close)
    length = headers.get("content-length")
    if length is None:  # the body lasts until the server closes
        return Reply(status, reason, headers, reader.read(), True)
    if not length.isdigit():
        raise http.client.HTTPException(f"bad Content-Length {length!r}")
    return Reply(status, reason, headers, _exactly(reader, int(length)), will_close)


class Incomplete(Exception):
    """The answer has not fully arrived yet."""


class Received:
    """The bytes received so far, read like a file; running out before `final` is `Incomplete`."""

    def __init__(self, data: bytes, final: bool) -> None:
        self._data, self._at, self._final = data, 0, final

    def readline(self, limit: int = -1, /) -> bytes:
        end = self._data.find(b"\n", self._at)
        if end < 0:
            if not self._final:
                raise Incomplete
            end = len(self._data) - 1
        stop = end + 1 if limit < 0 else min(end + 1, self._at + limit)
        line, self._at = self._data[self._at : stop], stop
        return line

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            if not self._final:
                raise Incomplete  # a body that lasts until the server closes
            size = len(self._data) - self._at
        elif len(self._data) - self._at < size and not self._final:
            raise Incomplete
        data, self._at = self._data[self._at : self._at + size], self._at + size
        return data


def _status(reader: Reader) -> tuple[int, str, str]:
    line = _line(reader)
    if not line:
        raise http.client.RemoteDisconnected("the server closed the connection without answering")
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or len(code) != 3 or not code.isdigit():
        raise http.client.BadStatusLine(line)
    return int(code), reason.strip(), version


def _headers(reader: Reader) -> Headers:
    headers = Headers()
    for _ in range(MAX_HEADERS + 1):
        line = _line(reader)
        if not line.strip():
            return headers
        name, colon, value = line.partition(":")
        if not colon:
            raise http.client.HTTPException(f"malformed header line {line!r}")
        key, value = name.strip().lower(), value.strip()
        old = dict.get(headers, key)
        dict.__setitem__(headers, key, value if old is None else f"{old}, {value}")
    raise http.client.HTTPException(f"more than {MAX_HEADERS} headers")


def _line(reader: Reader) -> str:
    raw = reader.readline(MAX_LINE + 1)
    if len(raw) > MAX_LINE:
        raise http.client.LineTooLong("header line")
    return str(raw, "iso-8859-1").rstrip("\r\n")


def _exactly(reader: Reader, size: int) -> bytes:
    data = reader.read(size)
    if len(data) < size:
        raise http.client.IncompleteRead(data, size - len(data))
    return data


def _chunked(reader: Reader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_text = _line(reader).split(";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise http.client.HTTPException(f"bad chunk size {size_text!r}") from None
        if size == 0:
            _headers(reader)  # trailers, then the blank line
            return b"".join(parts)
        parts.append(_exactly(reader, size))
        _exactly(reader, 2)  # the CRLF after each chunk


def request_head(
    method: str, target: str, host: str, headers: Mapping[str, str], body: bytes | None
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Accept-Encoding: identity"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    _refuse_line_breaks((method, target, *headers.keys(), *headers.values()))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("iso-8859-1")


def _refuse_line_breaks(values: Iterable[str]) -> None:
    # A CR or LF in a name or value would let it smuggle headers (http.client refuses too).
    for value in values:
        if "\r" in value or "\n" in value:
            raise ValueError(f"line break in a request line or header: {value!r}")


@cache
def default_tls() -> ssl.SSLContext:
    """The default verifying TLS context, built once on first use (never at import).

    Loading the trusted CAs costs milliseconds: one context serves every connection.
    """
    return ssl.create_default_context()
