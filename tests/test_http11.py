"""The lean HTTP/1.1 connection under the provider clients, against a real socket server.

The server answers each request with the next scripted bytes, so answers
the fake providers never give (chunked bodies, 100 Continue, HTTP/1.0,
bodies until close, broken status lines) are read off a real socket.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from typing import BinaryIO

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from engine.channels.http11 import ConnectError, Connection, Reply, Request
from engine.channels.keepalive import ConnectionPool


@contextmanager
def scripted(
    *answers: bytes, hang_up_after: int = 0, tls: ssl.SSLContext | None = None
) -> Iterator[tuple[str, list[bytes]]]:
    """A server on 127.0.0.1 writing `answers` in turn, one per request; yields its netloc and
    the raw requests it read. It hangs up after every `hang_up_after` answers (0: only after the
    last) and takes the next connection. With `tls` it speaks HTTPS."""
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []
    left = list(answers)

    def serve() -> None:
        while left:
            conn, _ = listener.accept()
            if tls is not None:
                try:
                    conn = tls.wrap_socket(conn, server_side=True)
                except ssl.SSLError:  # the client refused our certificate
                    conn.close()
                    return
            with conn, conn.makefile("rb") as reader:
                for _ in range(min(hang_up_after or len(left), len(left))):
                    received.append(_read_request(reader))
                    conn.sendall(left.pop(0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}", received
    finally:
        thread.join(timeout=5)
        listener.close()


def _read_request(reader: BinaryIO) -> bytes:
    head = b"".join(iter(reader.readline, b"\r\n"))
    length = [
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    ]
    return head + b"\r\n" + reader.read(length[0] if length else 0)


def opened(netloc: str) -> Connection:
    conn = Connection("http", netloc, timeout=5)
    conn.open()
    return conn


def ask(netloc: str, method: str, body: bytes | None = None) -> Reply:
    """One request on a fresh connection, closed afterwards."""
    conn = opened(netloc)
    try:
        return conn.request(method, "/", {}, body)
    finally:
        conn.close()


def test_a_request_is_written_in_full_and_the_answer_read_by_length() -> None:
    answer = b"HTTP/1.1 202 Accepted\r\nX-Message-Id: m1\r\nContent-Length: 2\r\n\r\nok"
    with scripted(answer, answer) as (netloc, received):
        conn = opened(netloc)
        first = conn.request("POST", "/v3/mail/send", {"Authorization": "Bearer k"}, b'{"a":1}')
        second = conn.request("POST", "/v3/mail/send", {}, b"{}")  # the same connection
        conn.close()
    assert (first.status, first.reason, first.body, first.will_close) == (
        202,
        "Accepted",
        b"ok",
        False,
    )
    assert first.headers["x-message-id"] == first.headers.get("X-MESSAGE-ID") == "m1"
    assert second.status == 202
    assert (
        received[0]
        == (
            f"POST /v3/mail/send HTTP/1.1\r\nHost: {netloc}\r\nAccept-Encoding: identity\r\n"
            'Authorization: Bearer k\r\nContent-Length: 7\r\n\r\n{"a":1}'
        ).encode()
    )


def test_chunked_bodies_with_extensions_and_trailers() -> None:
    answer = (
        b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    with scripted(answer) as (netloc, _):
        reply = ask(netloc, "GET")
    assert (reply.status, reply.body, reply.will_close) == (400, b"hello, world", False)


def test_continue_is_skipped_and_repeated_headers_are_joined() -> None:
    answer = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nVary: a\r\nVary: b\r\nContent-Length: 0\r\n\r\n"
    )
    with scripted(answer) as (netloc, _):
        reply = ask(netloc, "POST", b"x")
    assert (reply.status, reply.headers["vary"], reply.body) == (200, "a, b", b"")


@pytest.mark.parametrize(
    ("answer", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", b"x"),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", b"x"),
        (b"HTTP/1.1 200 OK\r\n\r\nuntil the end", b"until the end"),
    ],
)
def test_answers_that_end_the_connection(answer: bytes, body: bytes) -> None:
    with scripted(answer) as (netloc, _):
        reply = ask(netloc, "GET")
    assert (reply.body, reply.will_close) == (body, True)


def test_no_body_for_204() -> None:
    with scripted(b"HTTP/1.1 204 No Content\r\n\r\n") as (netloc, _):
        reply = ask(netloc, "DELETE")
    assert (reply.status, reply.body, reply.will_close) == (204, b"", False)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"", http.client.RemoteDisconnected),
        (b"SMTP 220 hello\r\n\r\n", http.client.BadStatusLine),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", http.client.IncompleteRead),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", http.client.HTTPException),
        (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", http.client.HTTPException),
    ],
)
def test_broken_answers_raise_after_the_request_left(answer: bytes, error: type[Exception]) -> None:
    with scripted(answer) as (netloc, received):
        conn = opened(netloc)
        with pytest.raises(error):
            conn.request("POST", "/", {}, b"x")
        conn.close()
    assert len(received) == 1  # it was sent: the caller must treat it as maybe taken


def test_a_slow_answer_times_out_as_a_read_timeout() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    conn = Connection("http", f"127.0.0.1:{listener.getsockname()[1]}", timeout=0.1)
    conn.open()
    with pytest.raises(TimeoutError, match=r"Read timed out after 0\.1 s"):
        conn.request("GET", "/", {}, None)
    conn.close()
    listener.close()


def test_connecting_to_nothing_is_a_connect_error_reading_like_the_os_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectError, match=r"^\[Errno 111\] Connection refused$"):
        Connection("http", f"127.0.0.1:{port}", timeout=1).open()


def test_line_breaks_in_headers_are_refused_before_anything_is_written() -> None:
    with scripted() as (netloc, received):
        conn = opened(netloc)
        with pytest.raises(ValueError, match="line break"):
            conn.request("GET", "/", {"X-Evil": "a\r\nInjected: 1"}, None)
        conn.close()
    assert received == []


def test_the_pool_keeps_one_connection_and_replaces_one_the_server_closed() -> None:
    pool = ConnectionPool()
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
    with scripted(ok, ok, ok, hang_up_after=2) as (netloc, received):
        for i in range(3):  # two on the first connection; the third finds it closed
            if i == 2:
                time.sleep(0.05)  # the server hangs up the idle connection meanwhile
            assert pool.exchange(Request("GET", f"http://{netloc}/x?y=1", {}, None), 5).body == b"a"
    assert len(received) == 3
    assert received[0].startswith(b"GET /x?y=1 HTTP/1.1\r\n")
    pool.close()


def test_unknown_schemes_are_refused() -> None:
    with pytest.raises(ValueError, match="scheme"):
        Connection("ftp", "example.com", timeout=1)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: (server context, client context trusting it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cafile=str(folder / "cert.pem"))
    return server, client


def test_https_verifies_the_server_and_keeps_the_connection(
    certificate: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server, client = certificate
    ok = b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok"
    with scripted(ok, ok, tls=server) as (netloc, received):
        conn = Connection("https", netloc, timeout=5, tls=client)
        conn.open()
        assert [conn.request("POST", "/", {}, b"x").body for _ in range(2)] == [b"ok", b"ok"]
        conn.close()
    assert len(received) == 2


def test_an_untrusted_certificate_is_a_connect_error(
    certificate: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server, _ = certificate
    with (
        scripted(b"never", tls=server) as (netloc, received),
        pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        Connection("https", netloc, timeout=5).open()  # the system's CAs only
    assert received == []
