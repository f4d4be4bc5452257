"""The fake provider servers themselves: scripting order, auth, their own process."""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from engine.testing.sendgrid import FakeSendGrid
from engine.testing.server import Answer, Recorded
from engine.testing.twilio import FakeTwilio


def post(url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    connection.request("POST", path, body, headers)
    response = connection.getresponse()
    answer = response.status, response.read()
    connection.close()
    return answer


def test_queued_answers_come_before_the_rule_and_then_normal_service() -> None:
    seen: list[str] = []

    def rule(request: Recorded) -> Answer | None:
        seen.append(request.body["subject"])
        return Answer(503, {}, "rule") if request.body["subject"] == "ruled" else None

    with FakeSendGrid("SG.k") as fake:
        fake.rule = rule
        fake.answer_next(Answer(418, {}, "queued"))
        auth = {"Authorization": "Bearer SG.k", "Content-Type": "application/json"}
        mail = {
            "personalizations": [{"to": [{"email": "a@example.com"}]}],
            "from": {"email": "news@shop.example"},
            "content": [{"type": "text/plain", "value": "hi"}],
        }
        answers = [
            post(fake.url, "/v3/mail/send", json.dumps({**mail, "subject": s}).encode(), auth)
            for s in ("first", "ruled", "plain")
        ]
    assert [(status, body) for status, body in answers[:2]] == [(418, b"queued"), (503, b"rule")]
    assert answers[2] == (202, b"")
    assert seen == ["ruled", "plain"]  # the queue answered the first without asking the rule
    assert [m.body["subject"] for m in fake.accepted] == ["plain"]


def test_sendgrid_unknown_path_and_unparsable_body() -> None:
    with FakeSendGrid("SG.k") as fake:
        auth = {"Authorization": "Bearer SG.k"}
        assert post(fake.url, "/v3/mail/sned", b"{}", auth)[0] == 404
        status, body = post(fake.url, "/v3/mail/send", b"{not json", auth)
    assert (status, json.loads(body)["errors"][0]["message"]) == (400, "Bad Request")
    assert [r.body for r in fake.requests] == [{}, None]


def test_twilio_checks_the_account_in_the_path_as_well_as_the_password() -> None:
    with FakeTwilio("AC1", "token") as fake:
        basic = "Basic " + base64.b64encode(b"AC1:token").decode()
        headers = {"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"}
        form = b"To=%2B15005550001&From=%2B15550001111&Body=hi"
        other = post(fake.url, "/2010-04-01/Accounts/AC2/Messages.json", form, headers)
        own = post(fake.url, "/2010-04-01/Accounts/AC1/Messages.json", form, headers)
    assert other[0] == 401 and json.loads(other[1])["code"] == 20003
    assert own[0] == 201 and json.loads(own[1])["status"] == "queued"
    assert fake.requests[1].body == {"To": "+15005550001", "From": "+15550001111", "Body": "hi"}


@pytest.mark.parametrize("module", ["engine.testing.sendgrid", "engine.testing.twilio"])
def test_runs_as_its_own_process(module: str) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", module, "--latency-ms", "5", "--no-record"],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            status, _ = post(url, "/nowhere", b"", {})
        finally:
            process.terminate()
            code = process.wait(10)
    assert url.startswith("http://127.0.0.1:")
    assert status == 404
    assert code == 0
