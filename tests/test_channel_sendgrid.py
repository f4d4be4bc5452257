"""SendGridChannel: the official client talking to FakeSendGrid on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.channels.sendgrid import SendGridChannel
from engine.core.messages import Rendered
from engine.core.sending.message import Message, Outcome
from engine.settings import SendGridSettings
from engine.testing.sendgrid import FakeSendGrid, rate_limited, sendgrid_error
from engine.testing.server import Answer

KEY = "SG.test-key"
UNSUBSCRIBE = {
    "List-Unsubscribe": "<https://shop.example/u/TOKEN>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid(KEY) as server:
        yield server


def channel(fake: FakeSendGrid, mode: str = "engine", **settings: Any) -> SendGridChannel:
    values = {"api_key": KEY, "host": fake.url, "concurrency": 4, **settings}
    return SendGridChannel(SendGridSettings(**values), "Example Shop", "news@shop.example", mode)  # type: ignore[arg-type]


def email(send_id: int, to: str, text: str = "Hello", **kw: Any) -> Message:
    rendered = Rendered("email", text, "Spring offer", f"<p>{text}</p>")
    kw.setdefault("headers", UNSUBSCRIBE)
    kw.setdefault("cell", "A")
    return Message(send_id, "spring", "offer", channel="email", to=to, rendered=rendered, **kw)


def personalization(send_id: int, to: str, cell: str = "A") -> dict[str, Any]:
    return {
        "to": [{"email": to}],
        "custom_args": {
            "ce_send_id": str(send_id),
            "ce_campaign": "spring",
            "ce_step": "offer",
            "ce_cell": cell,
        },
        "headers": UNSUBSCRIBE,
    }


def body(*personalizations: dict[str, Any], text: str = "Hello", **extra: Any) -> dict[str, Any]:
    return {
        "personalizations": list(personalizations),
        "from": {"email": "news@shop.example", "name": "Example Shop"},
        "subject": "Spring offer",
        "content": [
            {"type": "text/plain", "value": text},
            {"type": "text/html", "value": f"<p>{text}</p>"},
        ],
        "categories": ["spring"],
        "tracking_settings": {
            "click_tracking": {"enable": False, "enable_text": False},
            "open_tracking": {"enable": False},
            "subscription_tracking": {"enable": False},
        },
        **extra,
    }


def test_engine_mode_request_body_and_auth(fake: FakeSendGrid) -> None:
    sender = channel(fake)
    [outcome] = sender.send([email(1, "ann@example.com", categories=("winback", "spring"))])
    sender.close()
    [request] = fake.requests
    assert (request.method, request.path) == ("POST", "/v3/mail/send")
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Content-Type"] == "application/json"
    expected = body(personalization(1, "ann@example.com"))
    expected["categories"] = ["spring", "winback"]
    assert request.body == expected
    assert outcome == Outcome(1, "sent", provider_message_id=fake.accepted[0].message_id)


def test_sendgrid_mode_tracks_clicks_and_opens_never_subscriptions(fake: FakeSendGrid) -> None:
    sender = channel(fake, mode="sendgrid", sandbox=True)
    [outcome] = sender.send([email(1, "ann@example.com")])
    assert fake.requests[0].body == body(
        personalization(1, "ann@example.com"),
        tracking_settings={
            "click_tracking": {"enable": True, "enable_text": False},
            "open_tracking": {"enable": True},
            "subscription_tracking": {"enable": False},
        },
        mail_settings={"sandbox_mode": {"enable": True}},
    )
    assert outcome.kind == "sent"  # 200 in sandbox mode
    assert fake.processed_events() == []  # sandbox: nothing delivered, no events


def test_identical_content_shares_a_request_and_differences_split(fake: FakeSendGrid) -> None:
    messages = [
        email(1, "ann@example.com"),
        email(2, "bob@example.com", text="Hello Bob"),
        email(3, "cy@example.com", cell="B"),
        email(4, "ANN@example.com"),  # same address again: not in the same request
    ]
    outcomes = channel(fake).send(messages)
    bodies = [r.body for r in fake.requests]
    assert sorted(bodies, key=lambda b: b["personalizations"][0]["custom_args"]["ce_send_id"]) == [
        body(personalization(1, "ann@example.com"), personalization(3, "cy@example.com", "B")),
        body(personalization(2, "bob@example.com"), text="Hello Bob"),
        body(personalization(4, "ANN@example.com")),
    ]
    ids = {m.body["personalizations"][0]["to"][0]["email"]: m.message_id for m in fake.accepted}
    assert [o.send_id for o in outcomes] == [1, 2, 3, 4]
    assert [o.provider_message_id for o in outcomes] == [
        ids["ann@example.com"],
        ids["bob@example.com"],
        ids["ann@example.com"],  # one request, one X-Message-Id
        ids["ANN@example.com"],
    ]


def test_processed_events_carry_the_custom_args(fake: FakeSendGrid) -> None:
    channel(fake).send([email(1, "ann@example.com"), email(2, "bob@example.com")])
    message_id = fake.accepted[0].message_id
    events = fake.processed_events()
    assert [(e["email"], e["ce_send_id"], e["event"], e["category"]) for e in events] == [
        ("ann@example.com", "1", "processed", "spring"),
        ("bob@example.com", "2", "processed", "spring"),
    ]
    assert all(e["sg_message_id"].startswith(message_id + ".") for e in events)
    assert len({e["sg_event_id"] for e in events}) == 2
    assert fake.processed_events() == events  # replays carry the same event ids


def test_413_splits_the_group_until_it_fits_and_fails_a_lone_message(
    fake: FakeSendGrid,
) -> None:
    messages = [email(i, f"c{i}@example.com", text="x" * 300) for i in range(4)]
    sender = channel(fake)
    fake.max_body_bytes = len(json.dumps(sender.mail_body(messages[:1]))) + 100  # one fits
    outcomes = sender.send([*messages, email(9, "big@example.com", text="y" * 5000)])
    sizes = [len(r.body["personalizations"]) for r in fake.requests]
    assert sorted(sizes) == [1, 1, 1, 1, 1, 2, 2, 4]  # 4 -> 2+2 -> 1+1+1+1, and the big one
    assert [o.kind for o in outcomes] == ["sent"] * 4 + ["failed"]
    assert outcomes[4].error == "too large for SendGrid (413) request entity too large"
    assert sorted(fake.recipients()) == [f"c{i}@example.com" for i in range(4)]


def test_400_for_one_recipient_fails_it_and_sends_the_others(fake: FakeSendGrid) -> None:
    messages = [email(1, "ann@example.com"), email(2, "not-an-address"), email(3, "cy@x.org")]
    outcomes = channel(fake).send(messages)
    assert [o.kind for o in outcomes] == ["sent", "failed", "sent"]
    assert outcomes[1].error == "SendGrid 400: Does not contain a valid address."
    assert fake.recipients() == ["ann@example.com", "cy@x.org"]


def test_400_for_the_whole_request_fails_every_message(fake: FakeSendGrid) -> None:
    sender = SendGridChannel(
        SendGridSettings(api_key=KEY, host=fake.url), "Shop", "no-at-sign", "engine"
    )
    outcomes = sender.send([email(1, "ann@example.com"), email(2, "bob@example.com")])
    error = "SendGrid 400: The from email does not contain a valid address."
    assert outcomes == [Outcome(1, "failed", error=error), Outcome(2, "failed", error=error)]
    assert len(fake.requests) == 1


def test_wrong_key_is_401_and_pauses(fake: FakeSendGrid) -> None:
    sender = channel(fake, api_key="SG.wrong")
    [outcome] = sender.send([email(1, "ann@example.com")])
    assert fake.requests[0].headers["Authorization"] == "Bearer SG.wrong"
    reason = (
        "SendGrid refused the API key (401): "
        "The provided authorization grant is invalid, expired, or revoked"
    )
    assert outcome == Outcome(1, "retry", error=reason, pause=reason)
    assert fake.accepted == []


def test_403_pauses(fake: FakeSendGrid) -> None:
    fake.answer_next(sendgrid_error(403, "access forbidden"))
    [outcome] = channel(fake).send([email(1, "ann@example.com")])
    assert outcome.pause == "SendGrid refused the API key (403): access forbidden"
    assert outcome.kind == "retry"


def test_429_retries_at_the_reset_then_sends(fake: FakeSendGrid) -> None:
    fake.answer_next(rate_limited(1796112000), times=2)
    sender = channel(fake)
    first = sender.send([email(1, "ann@example.com"), email(2, "bob@example.com", text="B")])
    second = sender.send([email(1, "ann@example.com")])
    when = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert first == [
        Outcome(1, "retry", error="SendGrid rate limit (429)", retry_at=when),
        Outcome(2, "retry", error="SendGrid rate limit (429)", retry_at=when),
    ]
    assert second[0].kind == "sent"
    assert fake.recipients() == ["ann@example.com"]


def test_500_after_acceptance_is_unknown_and_reconciles_from_events(fake: FakeSendGrid) -> None:
    fake.answer_next(Answer(500, {}, b"Internal Server Error", accept=True))
    [outcome] = channel(fake).send([email(1, "ann@example.com")])
    assert outcome == Outcome(1, "unknown", error="SendGrid 500 Internal Server Error")
    assert [e["ce_send_id"] for e in fake.processed_events()] == ["1"]


def test_timeout_is_unknown(fake: FakeSendGrid) -> None:
    fake.latency = 1.0
    [outcome] = channel(fake, timeout_seconds=0.2).send([email(1, "ann@example.com")])
    assert outcome.kind == "unknown"
    assert outcome.error is not None and outcome.error.startswith("SendGrid: no answer (")
    assert "timed out" in outcome.error
    assert [e["ce_send_id"] for e in fake.processed_events()] == ["1"]  # it did go through


def test_connection_refused_is_retry() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens
    settings = SendGridSettings(api_key=KEY, host=f"http://127.0.0.1:{port}")
    sender = SendGridChannel(settings, "Shop", "news@shop.example", "engine")
    [outcome] = sender.send([email(1, "ann@example.com")])
    assert outcome == Outcome(
        1, "retry", error="SendGrid: not sent ([Errno 111] Connection refused)"
    )


def test_many_messages_come_back_in_order(fake: FakeSendGrid) -> None:
    messages = [email(i, f"c{i}@example.com", text=f"Hello {i % 7}") for i in range(60)]
    outcomes = channel(fake, concurrency=8).send(messages)
    assert [o.send_id for o in outcomes] == list(range(60))
    assert {o.kind for o in outcomes} == {"sent"}
    assert len(fake.requests) == 7
    assert sorted(fake.recipients()) == sorted(m.to for m in messages)


def test_categories_are_distinct_ascii_and_at_most_ten(fake: FakeSendGrid) -> None:
    extra = ("spring", "café", "x" * 256, *(f"c{i}" for i in range(12)))
    channel(fake).send([email(1, "ann@example.com", categories=extra)])
    assert fake.requests[0].body["categories"] == ["spring", *(f"c{i}" for i in range(9))]
