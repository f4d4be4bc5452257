"""`Multiplexer`: many requests in flight from one loop, answers in order, errors per request."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from engine.channels.http11 import ConnectError, Reply, Request
from engine.channels.multiplex import Multiplexer
from engine.testing.sendgrid import FakeSendGrid
from engine.testing.server import Answer
from tests.test_http11 import _read_request, certificate, scripted

KEY = "SG.test-key"
__all__ = ["certificate"]  # the fixture, shared with test_http11


def post(url: str, n: int) -> Request:
    mail = {
        "personalizations": [{"to": [{"email": f"c{n}@example.com"}]}],
        "from": {"email": "news@shop.example"},
        "subject": "Hi",
        "content": [{"type": "text/plain", "value": "Hello"}],
    }
    body = json.dumps(mail).encode()
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    return Request("POST", url + "/v3/mail/send", headers, body)


def made(*requests: Request) -> list:
    return [lambda r=r: r for r in requests]


def test_requests_go_out_together_and_answers_come_back_in_order() -> None:
    with FakeSendGrid(KEY, latency=0.05) as fake:
        wire = Multiplexer(limit=8, timeout=5)
        answers = wire.exchange_all(made(*(post(fake.url, i) for i in range(20))))
        opened = len(fake.connections)
        again = wire.exchange_all(made(post(fake.url, 20)))  # over a kept connection
        assert len(fake.connections) == opened
        wire.close()
        recipients = fake.recipients()
    assert all(isinstance(a, Reply) and a.status == 202 for a in [*answers, *again])
    assert sorted(recipients) == sorted(f"c{i}@example.com" for i in range(21))
    assert 2 <= opened <= 8  # in flight together, never more than the limit


def test_each_request_is_made_on_the_loop_just_before_it_is_sent() -> None:
    made_on: list[str] = []
    with FakeSendGrid(KEY) as fake:

        def make() -> Request:
            made_on.append(threading.current_thread().name)
            return post(fake.url, len(made_on))

        wire = Multiplexer(limit=2, timeout=5)
        assert len(wire.exchange_all([make, make, make])) == 3
        wire.close()
    assert made_on == ["http-mux"] * 3


def test_errors_stand_for_their_own_request_only() -> None:
    with FakeSendGrid(KEY) as fake:
        fake.answer_next(Answer(500, {}, b"Internal Server Error"))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            nowhere = f"http://127.0.0.1:{probe.getsockname()[1]}"
        wire = Multiplexer(limit=1, timeout=5)
        first, refused, ok = wire.exchange_all(
            made(post(fake.url, 1), post(nowhere, 2), post(fake.url, 3))
        )
        wire.close()
    assert isinstance(first, Reply) and (first.status, first.body) == (
        500,
        b"Internal Server Error",
    )
    assert isinstance(refused, ConnectError) and str(refused) == "[Errno 111] Connection refused"
    assert isinstance(ok, Reply) and ok.status == 202


def test_a_slow_answer_is_a_read_timeout_and_its_connection_is_dropped() -> None:
    with FakeSendGrid(KEY) as fake:
        fake.answer_next(Answer(202, {}, b"", delay=1.0))
        wire = Multiplexer(limit=1, timeout=0.2)
        [late] = wire.exchange_all(made(post(fake.url, 1)))
        [fine] = wire.exchange_all(made(post(fake.url, 2)))
        assert wire.connections == 1
        wire.close()
    assert isinstance(late, TimeoutError) and str(late) == "Read timed out after 0.2 s"
    assert isinstance(fine, Reply) and fine.status == 202


def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    ok = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
    with scripted(ok, ok, hang_up_after=1) as (netloc, received):
        wire = Multiplexer(limit=1, timeout=5)
        first = wire.exchange_all(made(post(f"http://{netloc}", 1)))
        time.sleep(0.05)  # the server hangs up the idle connection meanwhile
        second = wire.exchange_all(made(post(f"http://{netloc}", 2)))
        wire.close()
    assert [a.status for a in [*first, *second]] == [202, 202]  # type: ignore[union-attr]
    assert len(received) == 2  # each written once


@contextmanager
def dribbling(answer: bytes, pieces: int) -> Iterator[str]:
    """A server writing `answer` in `pieces` parts with pauses (read as it arrives)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, conn.makefile("rb") as reader:
            _read_request(reader)
            size = -(-len(answer) // pieces)
            for start in range(0, len(answer), size):
                conn.sendall(answer[start : start + size])
                time.sleep(0.01)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        thread.join(timeout=5)
        listener.close()


@pytest.mark.parametrize(
    ("answer", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", b"hello world"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            b"hello world",
        ),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", b"until the end"),
    ],
)
def test_answers_arriving_in_pieces_are_read_whole(answer: bytes, body: bytes) -> None:
    with dribbling(answer, pieces=7) as url:
        wire = Multiplexer(limit=1, timeout=5)
        [reply] = wire.exchange_all(made(post(url, 1)))
        wire.close()
    assert isinstance(reply, Reply) and reply.body == body


def test_a_server_that_hangs_up_mid_answer_is_an_error_after_sending() -> None:
    with dribbling(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", pieces=1) as url:
        wire = Multiplexer(limit=1, timeout=5)
        [broken] = wire.exchange_all(made(post(url, 1)))
        wire.close()
    assert isinstance(broken, http.client.IncompleteRead)


def test_nothing_runs_before_the_first_request_and_close_stops_the_loop() -> None:
    before = {t.name for t in threading.enumerate()}
    wire = Multiplexer(limit=1, timeout=5)
    assert wire.exchange_all([]) == []
    assert "http-mux" not in {t.name for t in threading.enumerate()} - before
    with FakeSendGrid(KEY) as fake:
        wire.exchange_all(made(post(fake.url, 1)))
        wire.close()
        assert wire.connections == 0
        [again] = wire.exchange_all(made(post(fake.url, 2)))  # starts anew
        wire.close()
    assert isinstance(again, Reply) and again.status == 202


def test_https_requests_in_flight_together(
    certificate: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server, client = certificate
    ok = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
    with scripted(ok, ok, ok, tls=server) as (netloc, received):
        wire = Multiplexer(limit=1, timeout=5, tls=client)
        answers = wire.exchange_all(made(*(post(f"https://{netloc}", i) for i in range(3))))
        wire.close()
    assert [a.status for a in answers] == [202, 202, 202]  # type: ignore[union-attr]
    assert len(received) == 3  # one connection, kept


def test_an_untrusted_certificate_means_the_request_never_left(
    certificate: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server, _ = certificate
    with scripted(b"never", tls=server) as (netloc, received):
        wire = Multiplexer(limit=1, timeout=5)  # the system's CAs only
        [refused] = wire.exchange_all(made(post(f"https://{netloc}", 1)))
        wire.close()
    assert isinstance(refused, ConnectError)
    assert received == []
