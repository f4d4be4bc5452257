"""`KeepAliveHttpClient`: the official Twilio client's requests, encoded as `requests` would, kept alive."""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl

from twilio.rest import Client

from engine.channels.twilio_http import KeepAliveHttpClient
from engine.testing.twilio import FakeTwilio
from tests.test_http11 import scripted

SID, TOKEN = "AC" + "1" * 32, "test-token"
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


def test_the_official_client_sends_over_one_kept_connection() -> None:
    with FakeTwilio(SID, TOKEN) as fake:
        http = KeepAliveHttpClient(fake.url, timeout=5)
        messages = Client(SID, TOKEN, http_client=http).messages
        for i in range(5):
            created = messages.create(to=f"+1500555000{i}", from_="+15550001111", body=f"hi {i}")
            assert created.sid.startswith("SM")
        assert len(fake.requests) == 5
        assert len(fake.connections) == 1  # requests through urllib3 would pool too; one here
        assert [r.body["Body"] for r in fake.requests] == [f"hi {i}" for i in range(5)]
        http.pool.close()


def test_form_body_query_auth_and_base_url_as_requests_would_send_them() -> None:
    with scripted(OK, OK) as (netloc, received):
        http = KeepAliveHttpClient(f"http://{netloc}/", timeout=5)
        answer = http.request(
            "POST",
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
            params={"PageSize": 2, "Skip": None},
            data={"To": "+15005550001", "MediaUrl": ["https://a.example/1", "https://a.example/2"]},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=("AC1", "secret"),
        )
        http.request("POST", "https://api.twilio.com/v1/Things", data={"a": [1, 2]},
                     headers={"Content-Type": "application/json"})  # fmt: skip
        http.pool.close()
    assert (answer.status_code, answer.text) == (200, "{}")
    head, body = received[0].split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /2010-04-01/Accounts/AC1/Messages.json?PageSize=2 HTTP/1.1"
    basic = base64.b64encode(b"AC1:secret").decode()
    assert f"Authorization: Basic {basic}" in lines
    assert parse_qsl(body.decode()) == [
        ("To", "+15005550001"),
        ("MediaUrl", "https://a.example/1"),
        ("MediaUrl", "https://a.example/2"),
    ]
    assert received[1].endswith(b'\r\n\r\n{"a": [1, 2]}')


def test_other_hosts_are_left_alone() -> None:
    with scripted(OK) as (netloc, received):
        http = KeepAliveHttpClient("http://127.0.0.1:1", timeout=5)  # would refuse
        assert http.request("GET", f"http://{netloc}/elsewhere").status_code == 200
        http.pool.close()
    assert received[0].startswith(b"GET /elsewhere HTTP/1.1\r\n")
