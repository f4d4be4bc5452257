"""Twilio status callbacks and inbound texts, signed as Twilio signs them, on both databases."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from twilio.request_validator import RequestValidator

from engine.bootstrap import Adapters
from engine.core.sending.due import suppression_token
from engine.core.sending.message import Outcome
from engine.core.tracking.replies import classify
from engine.db.models import (
    Alert,
    Consent,
    Customer,
    Event,
    QuarantinedEvent,
    Response,
    Send,
    Suppression,
    WebhookBatch,
)
from engine.web import create_app

from .fakes import FakeChannel, FakeClock
from .test_dispatch import OPEN, SMS, dispatch, launch, people, table

TOKEN = "twilio-auth-token-for-tests"
PUBLIC = "https://hooks.shop.example"  # what Twilio was given; the app sees http://localhost
ACCOUNT = "AC" + "1" * 32
OUR_NUMBER = "+15005550006"


def client(adapters: Adapters, token: str | None = TOKEN, background: bool = False) -> FlaskClient:
    """The app as Twilio reaches it; kept status callbacks wait for `settle` unless `background`."""
    s = adapters.settings
    twilio = s.channels.twilio.model_copy(update={"auth_token": token})
    settings = s.model_copy(
        update={
            "channels": s.channels.model_copy(update={"twilio": twilio}),
            "sender": s.sender.model_copy(update={"public_url": PUBLIC}),
        }
    )
    app = create_app(
        adapters=replace(adapters, settings=settings),
        clock=FakeClock(OPEN + timedelta(hours=1)),
        apply_in_background=background,
    )
    return app.test_client()


def settle(web: FlaskClient) -> int:
    """Apply the status callbacks the app has kept, now (its thread would, a moment later)."""
    return int(web.application.extensions["engine"].statuses.drain())


def post(
    web: FlaskClient, path: str, params: dict[str, str], signature: str | None = "sign"
) -> Any:
    """POST a form as Twilio does: X-Twilio-Signature over the public URL and the sorted params."""
    headers = {}
    if signature == "sign":
        headers["X-Twilio-Signature"] = RequestValidator(TOKEN).compute_signature(
            PUBLIC + path, params
        )
    elif signature is not None:
        headers["X-Twilio-Signature"] = signature
    return web.post(path, data=params, headers=headers)


def status(
    send_id: int | None, sid: str, value: str, to: str, **extra: str
) -> tuple[str, dict[str, str]]:
    path = "/webhooks/twilio/status" + (f"?send={send_id}" if send_id is not None else "")
    params = {
        "AccountSid": ACCOUNT,
        "ApiVersion": "2010-04-01",
        "From": OUR_NUMBER,
        "MessageSid": sid,
        "MessageStatus": value,
        "SmsSid": sid,
        "SmsStatus": value,
        "To": to,
        **extra,
    }
    return path, params


def inbound(phone: str, text: str, sid: str, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT,
        "ApiVersion": "2010-04-01",
        "Body": text,
        "From": phone,
        "FromCountry": "CN",
        "MessageSid": sid,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "To": OUR_NUMBER,
        **extra,
    }


def sid_of(send_id: int) -> str:
    return f"SM{send_id:032x}"


def texted(adapters: Adapters, n: int) -> list[dict[str, Any]]:
    """`n` customers texted through a channel that answers like Twilio (SM... sids)."""
    people(adapters, n, channel="sms")
    launch(adapters, SMS, now=OPEN)
    channel = FakeChannel(
        "sms", lambda m: Outcome(m.send_id, "sent", provider_message_id=sid_of(m.send_id))
    )
    dispatch(adapters, FakeClock(OPEN), channel)
    phones = {c["id"]: c["phone"] for c in table(adapters, Customer)}
    sends = sorted(table(adapters, Send), key=lambda s: s["id"])
    return [{**s, "phone": phones[s["customer_id"]]} for s in sends if s["state"] == "sent"]


def counts(adapters: Adapters) -> dict[str, int]:
    with adapters.engine.connect() as conn:
        return {
            model.__tablename__: conn.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (Event, Consent, Suppression, QuarantinedEvent, Alert, Response)
        }


def test_status_callbacks_settle_delivery_and_a_failure_is_never_erased(adapters: Adapters) -> None:
    s = texted(adapters, 10)
    web = client(adapters)
    a, b = s[0], s[1]
    for sid, value, extra in [
        (a, "sent", {}),
        (a, "delivered", {}),
        (b, "sent", {}),
        (b, "undelivered", {"ErrorCode": "30003", "ErrorMessage": "Unreachable"}),
        (b, "delivered", {}),  # a later segment's success: the failure stands
    ]:
        path, params = status(sid["id"], sid_of(sid["id"]), value, sid["phone"], **extra)
        assert post(web, path, params).status_code == 200
    assert settle(web) == 5
    after = counts(adapters)
    for _ in range(3):  # retries and replays change nothing
        path, params = status(
            b["id"], sid_of(b["id"]), "undelivered", b["phone"], ErrorCode="30003"
        )
        assert post(web, path, params).status_code == 200
        assert settle(web) == 1
        assert counts(adapters) == after
    sends = {x["id"]: x for x in table(adapters, Send)}
    assert sends[a["id"]]["delivery"] == "delivered"
    assert sends[b["id"]]["delivery"] == "undelivered"
    assert after["events"] == 5 and after["suppressions"] == 0  # 30003 suppresses nothing
    batches = sorted(table(adapters, WebhookBatch), key=lambda x: x["id"])
    stored = batches[0]
    assert f"MessageSid={sid_of(a['id'])}" in stored["body"]  # the raw form, as it came
    assert stored["headers"]["X-Twilio-Signature"]
    assert stored["headers"][":path"] == f"/webhooks/twilio/status?send={a['id']}"
    assert [(x["status"], x["events"]) for x in batches] == [("processed", 1)] * 5 + [
        ("processed", 0)
    ] * 3


@pytest.mark.parametrize(
    ("code", "expect"),
    [
        ("30005", "suppression"),
        ("30006", "suppression"),
        ("21610", "withdrawn"),
        ("30007", "alert"),
    ],
)
def test_error_codes_of_failures_mean_what_they_mean_at_create_time(
    adapters: Adapters, code: str, expect: str
) -> None:
    s = texted(adapters, 10)
    path, params = status(s[0]["id"], sid_of(s[0]["id"]), "failed", s[0]["phone"], ErrorCode=code)
    web = client(adapters)
    assert post(web, path, params).status_code == 200
    settle(web)
    suppressions = table(adapters, Suppression)
    withdrawn = [c for c in table(adapters, Consent) if c["status"] == "withdrawn"]
    alerts = table(adapters, Alert)
    if expect == "suppression":
        assert [(x["channel"], x["token_hash"]) for x in suppressions] == [
            ("sms", suppression_token("phone", s[0]["phone"]))
        ]
        assert not withdrawn and not alerts
    elif expect == "withdrawn":
        assert [c["customer_id"] for c in withdrawn] == [s[0]["customer_id"]] and not suppressions
    else:
        assert len(alerts) == 1 and alerts[0]["send_id"] == s[0]["id"] and not suppressions


def test_unknown_sends_are_reconciled_by_a_status_callback(adapters: Adapters) -> None:
    s = texted(adapters, 10)
    with adapters.engine.begin() as conn:
        conn.execute(
            update(Send)
            .where(Send.id == s[0]["id"])
            .values(state="unknown", provider_message_id=None)
        )
    path, params = status(s[0]["id"], "SMreconciled0000000000000000000000", "sent", s[0]["phone"])
    web = client(adapters)
    assert post(web, path, params).status_code == 200
    settle(web)
    send = next(x for x in table(adapters, Send) if x["id"] == s[0]["id"])
    assert (
        send["state"] == "sent"
        and send["provider_message_id"] == "SMreconciled0000000000000000000000"
    )


def test_a_callback_without_its_send_query_joins_by_message_sid(adapters: Adapters) -> None:
    s = texted(adapters, 10)
    path, params = status(None, sid_of(s[1]["id"]), "delivered", s[1]["phone"])
    web = client(adapters)
    assert post(web, path, params).status_code == 200
    settle(web)
    assert (
        next(x for x in table(adapters, Send) if x["id"] == s[1]["id"])["delivery"] == "delivered"
    )


@pytest.mark.parametrize(
    "signature", [None, "", "bm90IGEgc2lnbmF0dXJl", "internal-url", "no-token"]
)
def test_forged_or_missing_signatures_are_refused_and_nothing_is_stored(
    adapters: Adapters, signature: str | None
) -> None:
    s = texted(adapters, 10)
    path, params = status(
        s[0]["id"], sid_of(s[0]["id"]), "failed", s[0]["phone"], ErrorCode="30005"
    )
    web = client(adapters, token=None if signature == "no-token" else TOKEN)
    if signature == "internal-url":  # signed for the URL this process sees, not the public one
        signature = RequestValidator(TOKEN).compute_signature("http://localhost" + path, params)
    elif signature == "no-token":
        signature = "sign"
    for target in (path, "/webhooks/twilio/inbound"):
        assert post(web, target, params, signature).status_code == 403
    assert table(adapters, WebhookBatch) == [] and counts(adapters)["events"] == 0
    signed_for_other_send = RequestValidator(TOKEN).compute_signature(PUBLIC + path, params)
    assert post(web, path + "0", params, signed_for_other_send).status_code == 403  # query signed


def test_a_callback_that_is_not_a_status_is_quarantined_with_a_400(adapters: Adapters) -> None:
    path, params = status(1, "SM" + "0" * 32, "teleported", "+8613900000000")
    assert post(client(adapters), path, params).status_code == 400
    assert [q["reason"] for q in table(adapters, QuarantinedEvent)] == [
        "unknown MessageStatus: 'teleported'"
    ]


def test_stop_opts_out_every_customer_with_the_phone_and_is_confirmed_once(
    adapters: Adapters,
) -> None:
    ids = people(adapters, 3, channel="sms")
    with adapters.engine.begin() as conn:  # two customer records share one phone
        conn.execute(update(Customer).where(Customer.id == ids[1]).values(phone="+8613900000000"))
    web = client(adapters)
    first = post(web, "/webhooks/twilio/inbound", inbound("+8613900000000", "Stop please", "SMin1"))
    assert first.status_code == 200 and first.content_type.startswith("application/xml")
    assert first.text.count("<Message>") == 1 and "unsubscribed" in first.text
    withdrawn = {c["customer_id"] for c in table(adapters, Consent) if c["status"] == "withdrawn"}
    assert withdrawn == {ids[0], ids[1]}
    tokens = [x["token_hash"] for x in table(adapters, Suppression)]
    assert tokens == [suppression_token("phone", "+8613900000000")]
    after = counts(adapters)
    again = post(web, "/webhooks/twilio/inbound", inbound("+8613900000000", "STOP", "SMin2"))
    assert "<Message>" not in again.text  # nothing changed: no second confirmation
    for _ in range(3):  # a replayed STOP is not even a new event
        replay = post(
            web, "/webhooks/twilio/inbound", inbound("+8613900000000", "Stop please", "SMin1")
        )
        assert "<Message>" not in replay.text
    assert counts(adapters) == {**after, "events": after["events"] + 1}


def test_twilio_confirms_its_own_keyword_matches_so_the_engine_stays_silent(
    adapters: Adapters,
) -> None:
    people(adapters, 1, channel="sms")
    answer = post(
        client(adapters),
        "/webhooks/twilio/inbound",
        inbound("+8613900000000", "STOP", "SMin1", OptOutType="STOP"),
    )
    assert "<Message>" not in answer.text
    assert [c["status"] for c in table(adapters, Consent)][-1] == "withdrawn"


def test_a_stop_after_launch_prevents_the_next_sms_and_start_allows_it_again(
    adapters: Adapters,
) -> None:
    people(adapters, 5, channel="sms")
    launch(adapters, SMS, now=OPEN - timedelta(hours=2))
    stopped = table(adapters, Send)[0]
    phone = next(c["phone"] for c in table(adapters, Customer) if c["id"] == stopped["customer_id"])
    web = client(adapters)
    post(web, "/webhooks/twilio/inbound", inbound(phone, "please stop texting me", "SMin1"))
    fake = FakeChannel("sms")
    report = dispatch(adapters, FakeClock(OPEN), fake)
    assert report.skipped == {"no_consent_sms": 1}
    assert stopped["id"] not in {m.send_id for m in fake.received}
    # START: consent again and the STOP's suppression lifted; a landline suppression would stay.
    answer = post(web, "/webhooks/twilio/inbound", inbound(phone, "START", "SMin2"))
    assert answer.text.count("<Message>") == 1 and "subscribed" in answer.text
    assert table(adapters, Suppression) == []
    assert [
        c["status"] for c in table(adapters, Consent) if c["customer_id"] == stopped["customer_id"]
    ][-2:] == [
        "withdrawn",
        "granted",
    ]
    with adapters.engine.begin() as conn:
        conn.execute(update(Send).where(Send.id == stopped["id"]).values(state="queued"))
    assert dispatch(adapters, FakeClock(OPEN), fake).states == {("sms", "sent"): 1}


def test_yes_opts_in_only_a_number_that_opted_out(adapters: Adapters) -> None:
    people(adapters, 1, channel="sms")
    web = client(adapters)
    post(web, "/webhooks/twilio/inbound", inbound("+8613900000000", "yes", "SMin1"))
    assert [r["detail"]["text"] for r in table(adapters, Response)] == ["yes"]  # an answer
    post(web, "/webhooks/twilio/inbound", inbound("+8613900000000", "STOP", "SMin2"))
    post(web, "/webhooks/twilio/inbound", inbound("+8613900000000", "Yes", "SMin3"))
    assert [c["status"] for c in table(adapters, Consent)][-1] == "granted"


def test_help_gets_the_help_text(adapters: Adapters) -> None:
    answer = post(
        client(adapters), "/webhooks/twilio/inbound", inbound("+8613900000009", "HELP", "SMin1")
    )
    assert answer.text.count("<Message>") == 1 and "news@shop.example" in answer.text
    assert "Reply STOP to opt out" in answer.text


def test_replies_and_ratings_are_responses_on_the_latest_sms(adapters: Adapters) -> None:
    s = texted(adapters, 10)
    web = client(adapters)
    for _ in range(2):
        post(web, "/webhooks/twilio/inbound", inbound(s[0]["phone"], "5 stars!", "SMr1"))
    post(
        web,
        "/webhooks/twilio/inbound",
        inbound(s[1]["phone"], "Is the sale on Sunday too?", "SMr2"),
    )
    rows = sorted(table(adapters, Response), key=lambda r: r["source_ref"])
    assert [
        (r["source_ref"], r["kind"], r["value"], r["send_id"], r["attribution"]) for r in rows
    ] == [
        ("SMr1", "reply", "5", s[0]["id"], "direct"),
        ("SMr2", "reply", None, s[1]["id"], "direct"),
    ]
    assert rows[1]["detail"]["text"] == "Is the sale on Sunday too?"
    assert (
        rows[0]["contact_id"] == s[0]["contact_id"]
        and rows[0]["campaign_id"] == s[0]["campaign_id"]
    )
    replied = [e for e in table(adapters, Event) if e["kind"] == "replied"]
    assert {e["send_id"] for e in replied} == {s[0]["id"], s[1]["id"]} and len(replied) == 2


STOPS = [
    "STOP",
    "stop",
    " Stop. ",
    "STOP!!!",
    "stop please",
    "Please stop",
    "STOP NOW",
    "stop it",
    "Stop 🛑",
    "STOPALL",
    "stop all",
    "UNSUBSCRIBE",
    "unsubscribe me",
    "Unsubscribe me please",
    "cancel",
    "end",
    "QUIT",
    "revoke",
    "optout",
    "opt out",
    "Opt-out",
    "opt me out",
    "please opt me out of these",
    "please stop texting me",
    "Stop texting me!",
    "stop sending me messages",
    "quit messaging me",
    "Take me off your list",
    "remove me from this list",
    "Remove me",
    "remove my number",
    "don't text me",
    "Do not text me again",
    "dont message me anymore",
    "no more texts",
    "No more messages please",
    "I want to unsubscribe",
    "I'd like to opt out",
    "how do I unsubscribe?",
    "How can I stop these?",
    "I revoke my consent",
    "wrong number",
    "Who is this? Stop.",
    "Stop, who is this?",
    "leave me alone",
    "STOP TEXTING",
    "Thanks, but stop",
    "Why can't I unsubscribe",
]
NOT_STOPS = [
    "don't stop the deals",
    "Don't stop sending me deals!",
    "I'll stop by the store tomorrow",
    "can't stop buying your shoes",
    "nonstop savings, love it",
    "when does the sale end?",
    "Cancel my order #123",
    "I do not want to unsubscribe",
    "never stop texting me",
    "Please don't unsubscribe me",
    "the end",
    "take me to the sale page",
    "yes",
    "thanks!",
    "What time do you open?",
    "",
]


@pytest.mark.parametrize("text", STOPS)
def test_reasonable_revocations_are_stops(text: str) -> None:
    assert classify(text).intent == "stop", text


@pytest.mark.parametrize("text", NOT_STOPS)
def test_texts_that_merely_mention_stop_are_replies(text: str) -> None:
    assert classify(text).intent == "reply", text


@pytest.mark.parametrize(
    ("text", "opted_out", "intent", "rating"),
    [
        ("START", False, "start", None),
        ("unstop", True, "start", None),
        ("yes", True, "start", None),
        ("Yes please", True, "start", None),
        ("yes", False, "reply", None),
        ("start the sale already?", False, "reply", None),
        ("HELP", False, "help", None),
        ("info", False, "help", None),
        ("help me", False, "help", None),
        ("I need help with my order", False, "reply", None),
        ("4", False, "rating", "4"),
        ("5/5", False, "rating", "5"),
        ("3 out of 5", False, "rating", "3"),
        ("1 star", False, "rating", "1"),
        ("6", False, "reply", None),
        ("10", False, "reply", None),
    ],
)
def test_opt_in_help_and_ratings(
    text: str, opted_out: bool, intent: str, rating: str | None
) -> None:
    reply = classify(text, opted_out)
    assert (reply.intent, reply.rating) == (intent, rating)


def test_twilio_keyword_match_wins() -> None:
    assert classify("arret", opt_out_type="STOP").intent == "stop"
    assert classify("whatever", opt_out_type="START").intent == "start"
