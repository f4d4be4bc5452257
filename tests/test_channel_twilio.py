"""TwilioSmsChannel: the official client talking to FakeTwilio on 127.0.0.1."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from engine.channels.twilio_sms import TwilioSmsChannel
from engine.core.messages import Rendered
from engine.core.sending.message import Message, Outcome
from engine.settings import TwilioSettings
from engine.testing.server import Answer, Recorded
from engine.testing.twilio import FakeTwilio, twilio_error

SID, TOKEN = "AC" + "1" * 32, "secret-token"
TEXT = "Spring sale: 15% off this week. Reply STOP to opt out"
PUBLIC = "https://shop.example"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(SID, TOKEN) as server:
        yield server


def channel(fake: FakeTwilio | None, **settings: Any) -> TwilioSmsChannel:
    values = {
        "account_sid": SID,
        "auth_token": TOKEN,
        "from_number": "+15550001111",
        "base_url": fake.url if fake else "http://127.0.0.1:1",
        "concurrency": 4,
        **settings,
    }
    return TwilioSmsChannel(TwilioSettings(**values), PUBLIC + "/")


def sms(send_id: int, to: str) -> Message:
    return Message(send_id, "spring", "offer", "A", "sms", to, Rendered("sms", TEXT))


def test_create_form_auth_and_status_callback(fake: FakeTwilio) -> None:
    sender = channel(fake)
    [outcome] = sender.send([sms(41, "+15005550001")])
    sender.close()
    [request] = fake.requests
    assert (request.method, request.path) == ("POST", f"/2010-04-01/Accounts/{SID}/Messages.json")
    basic = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {basic}"
    assert request.body == {
        "To": "+15005550001",
        "From": "+15550001111",
        "Body": TEXT,
        "StatusCallback": f"{PUBLIC}/webhooks/twilio/status?send=41",
    }
    [accepted] = fake.accepted
    assert outcome == Outcome(41, "sent", provider_message_id=accepted.sid)
    assert accepted.sid.startswith("SM") and len(accepted.sid) == 34


def test_messaging_service_instead_of_a_from_number(fake: FakeTwilio) -> None:
    service = "MG" + "2" * 32
    sender = channel(fake, from_number=None, messaging_service_sid=service)
    [outcome] = sender.send([sms(7, "+15005550001")])
    assert fake.requests[0].body == {
        "To": "+15005550001",
        "MessagingServiceSid": service,
        "Body": TEXT,
        "StatusCallback": f"{PUBLIC}/webhooks/twilio/status?send=7",
    }
    assert outcome.kind == "sent"
    [(url, params)] = fake.status_callbacks()
    assert url == f"{PUBLIC}/webhooks/twilio/status?send=7"
    assert params["MessagingServiceSid"] == service


def test_status_callbacks_of_accepted_messages(fake: FakeTwilio) -> None:
    outcomes = channel(fake).send([sms(1, "+15005550001"), sms(2, "bad")])
    assert [o.kind for o in outcomes] == ["sent", "failed"]
    assert fake.status_callbacks("delivered") == [
        (
            f"{PUBLIC}/webhooks/twilio/status?send=1",
            {
                "AccountSid": SID,
                "ApiVersion": "2010-04-01",
                "From": "+15550001111",
                "MessageSid": outcomes[0].provider_message_id,
                "MessageStatus": "delivered",
                "SmsSid": outcomes[0].provider_message_id,
                "SmsStatus": "delivered",
                "To": "+15005550001",
            },
        )
    ]


def test_wrong_token_is_401_and_pauses(fake: FakeTwilio) -> None:
    [outcome] = channel(fake, auth_token="wrong").send([sms(1, "+15005550001")])
    assert outcome.kind == "retry"
    assert outcome.pause == ("Twilio refused the credentials (401): Authenticate")
    assert fake.accepted == []


def only_for(number: str, answer: Answer) -> Any:
    def rule(request: Recorded) -> Answer | None:
        return answer if request.body.get("To") == number else None

    return rule


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (21610, {"kind": "failed", "opt_out": True}),
        (30003, {"kind": "retry"}),
        (30005, {"kind": "failed", "suppress": "sms"}),
        (30006, {"kind": "failed", "suppress": "sms"}),
        (30007, {"kind": "failed", "alert": True}),
        (21211, {"kind": "failed"}),
        (21614, {"kind": "failed"}),
        (20429, {"kind": "retry"}),
    ],
)
def test_error_codes_end_to_end(fake: FakeTwilio, code: int, expected: dict[str, Any]) -> None:
    fake.rule = only_for("+15005550009", twilio_error(code))
    ok, bad = channel(fake).send([sms(1, "+15005550001"), sms(2, "+15005550009")])
    assert ok.kind == "sent"
    assert bad.kind == expected["kind"]
    assert bad.opt_out is expected.get("opt_out", False)
    assert bad.suppress == expected.get("suppress")
    assert (bad.alert is not None) is expected.get("alert", False)
    assert bad.error is not None and bad.error.startswith(f"Twilio {code}: ")
    assert [s.form["To"] for s in fake.accepted] == ["+15005550001"]


def test_invalid_number_from_the_fakes_own_validation(fake: FakeTwilio) -> None:
    [outcome] = channel(fake).send([sms(3, "555-0100")])
    assert outcome == Outcome(
        3,
        "failed",
        error="Twilio 21211: The 'To' number 555-0100 is not a valid phone number. "
        "(invalid 'To' phone number)",
    )


def test_http_429_without_a_code_retries(fake: FakeTwilio) -> None:
    fake.answer_next(Answer(429, {}, b"slow down"))
    assert channel(fake).send([sms(1, "+15005550001")])[0].kind == "retry"


def test_500_after_acceptance_is_unknown(fake: FakeTwilio) -> None:
    fake.answer_next(Answer(500, {}, {"code": 20500, "message": "Internal", "status": 500}, True))
    [outcome] = channel(fake).send([sms(1, "+15005550001")])
    assert outcome.kind == "unknown"
    assert [url for url, _ in fake.status_callbacks()] == [
        f"{PUBLIC}/webhooks/twilio/status?send=1"
    ]


def test_timeout_is_unknown(fake: FakeTwilio) -> None:
    fake.latency = 1.0
    [outcome] = channel(fake, timeout_seconds=0.2).send([sms(1, "+15005550001")])
    assert outcome.kind == "unknown"
    assert outcome.error is not None and "Read timed out" in outcome.error
    assert len(fake.accepted) == 1  # Twilio did take it: the callback will tell


def test_connection_refused_is_retry() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = channel(None, base_url=f"http://127.0.0.1:{port}")
    [outcome] = sender.send([sms(1, "+15005550001")])
    assert outcome.kind == "retry"
    assert outcome.error is not None and "Connection refused" in outcome.error


def test_many_messages_come_back_in_order(fake: FakeTwilio) -> None:
    fake.rule = only_for("+15005550013", twilio_error(21610))
    messages = [sms(i, f"+1500555{i:04d}") for i in range(40)]
    outcomes = channel(fake, concurrency=8).send(messages)
    assert [o.send_id for o in outcomes] == list(range(40))
    assert [o.kind for o in outcomes].count("sent") == 39
    assert outcomes[13].opt_out
