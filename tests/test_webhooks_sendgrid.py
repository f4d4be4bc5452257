"""POST /webhooks/sendgrid: signed exactly as SendGrid signs, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from engine.bootstrap import Adapters, bootstrap
from engine.core.sending.due import suppression_token
from engine.core.sending.message import Outcome
from engine.core.tracking.sendgrid_events import Unusable, complaint_pause, parse_event
from engine.db.models import (
    Alert,
    Campaign,
    Consent,
    Customer,
    Event,
    QuarantinedEvent,
    Send,
    Suppression,
    WebhookBatch,
)
from engine.web import create_app

from .fakes import FakeChannel, FakeClock
from .test_dispatch import OPEN, dispatch, launch, people, table

KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC = base64.b64encode(
    KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()
SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
REQUEST_ID = "W86EgYT6SQKk0lRflfLRsA"  # the X-Message-Id of the Mail Send request


def signed(
    body: str, key: ec.EllipticCurvePrivateKey = KEY, at: str = "1793534400"
) -> dict[str, str]:
    """Headers as SendGrid sends them: ECDSA P-256 over timestamp + body, base64 DER."""
    signature = key.sign((at + body).encode(), ec.ECDSA(hashes.SHA256()))
    return {SIGNATURE: base64.b64encode(signature).decode(), TIMESTAMP: at}


def client(adapters: Adapters, public_key: str | None = PUBLIC) -> FlaskClient:
    settings = adapters.settings.model_copy(
        update={
            "webhooks": adapters.settings.webhooks.model_copy(
                update={"sendgrid_public_key": public_key}
            )
        }
    )
    app = create_app(
        adapters=replace(adapters, settings=settings), clock=FakeClock(OPEN + timedelta(hours=1))
    )
    return app.test_client()


def post(web: FlaskClient, events: Any, headers: dict[str, str] | None = None) -> Any:
    body = events if isinstance(events, str) else json.dumps(events)
    return web.post(
        "/webhooks/sendgrid",
        data=body,
        headers=signed(body) if headers is None else headers,
        content_type="application/json",
    )


def sent(adapters: Adapters, n: int, pmid: str = REQUEST_ID) -> list[dict[str, Any]]:
    """`n` customers' e-mails dispatched through a channel that answers like SendGrid."""
    people(adapters, n)
    launch(adapters, now=OPEN)
    channel = FakeChannel("email", lambda m: Outcome(m.send_id, "sent", provider_message_id=pmid))
    dispatch(adapters, FakeClock(OPEN), channel)
    sends = sorted(table(adapters, Send), key=lambda s: s["id"])
    emails = {c["id"]: c["email"] for c in table(adapters, Customer)}
    return [{**s, "email": emails[s["customer_id"]]} for s in sends if s["state"] == "sent"]


def event(
    kind: str, send: dict[str, Any], n: int, minutes: int = 1, **extra: Any
) -> dict[str, Any]:
    """An event shaped as in SendGrid's Event Webhook reference, with our custom args."""
    base = {
        "email": send["email"],
        "timestamp": int((OPEN + timedelta(minutes=minutes)).timestamp()),
        "smtp-id": f"<{REQUEST_ID}.{n}@ismtpd-555>",
        "event": kind,
        "category": ["winback", "offer"],
        "sg_event_id": f"ZmFrZS1ldmVudC0{n:04d}",
        "sg_message_id": f"{REQUEST_ID}.filterdrecv-p3las1-5bf99c48d-7b8xt-20-5A1F8C86-{n}.0",
        "ce_send_id": str(send["id"]),
        "ce_campaign": "mail-test",
        "ce_step": "offer",
        "ce_cell": "a",
    }
    return {**base, **extra}


def every_kind(s: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        event("processed", s[0], 1, 0),
        event("deferred", s[0], 2, 1, response="400 try again later", attempt="5"),
        event("delivered", s[0], 3, 2, response="250 OK", ip="168.1.1.1"),
        event("open", s[0], 4, 3, sg_machine_open=True, useragent="Mozilla/5.0", ip="17.0.0.1"),
        event("open", s[0], 5, 9, sg_machine_open=False, useragent="Mozilla/5.0"),
        event(
            "click",
            s[0],
            6,
            10,
            url="https://shop.example/new",
            url_offset={"index": 0, "type": "html"},
        ),
        event(
            "bounce",
            s[1],
            7,
            2,
            type="bounce",
            status="5.1.1",
            reason="550 5.1.1 unknown user",
            bounce_classification="Invalid Address",
        ),
        event(
            "bounce",
            s[2],
            8,
            2,
            type="blocked",
            status="5.7.1",
            reason="550 5.7.1 blocked",
            bounce_classification="Reputation",
        ),
        event("dropped", s[3], 9, 1, reason="Bounced Address", status="5.0.0"),
        event("spamreport", s[4], 10, 20),
        event("unsubscribe", s[5], 11, 20),
        event(
            "group_unsubscribe",
            s[6],
            12,
            20,
            asm_group_id=10,
            useragent="Mozilla/5.0",
            url="https://u/",
        ),
        event("group_resubscribe", s[6], 13, 30, asm_group_id=10),
    ]


def counts(adapters: Adapters) -> dict[str, int]:
    with adapters.engine.connect() as conn:
        return {
            model.__tablename__: conn.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (Event, Consent, Suppression, QuarantinedEvent, Alert)
        }


def test_every_event_type_is_applied_once_however_often_the_batch_comes(adapters: Adapters) -> None:
    s = sent(adapters, 10)
    web = client(adapters)
    before = counts(adapters)
    batch = every_kind(s)
    first = post(web, batch)
    assert first.status_code == 200, first.text
    after = counts(adapters)
    assert after["events"] == len(batch)
    for _ in range(3):  # SendGrid retries for 24 h: nothing changes again
        assert post(web, batch).status_code == 200
        assert counts(adapters) == after
    sends = {x["id"]: x for x in table(adapters, Send)}
    assert sends[s[0]["id"]]["delivery"] == "delivered"
    assert sends[s[0]["id"]]["opened_at"] == OPEN + timedelta(minutes=9)  # the human open
    assert sends[s[0]["id"]]["clicked_at"] == OPEN + timedelta(minutes=10)
    assert sends[s[1]["id"]]["delivery"] == "bounced"
    assert sends[s[2]["id"]]["delivery"] == "blocked"
    assert sends[s[3]["id"]]["delivery"] == "dropped"
    suppressions = table(adapters, Suppression)
    assert [(x["channel"], x["kind"], x["token_hash"], x["reason"]) for x in suppressions] == [
        ("email", "email", suppression_token("email", s[1]["email"]), "hard_bounce")
    ]  # the block, the deferral and the drop suppress nothing
    withdrawn = {c["customer_id"] for c in table(adapters, Consent) if c["status"] == "withdrawn"}
    assert withdrawn == {s[4]["customer_id"], s[5]["customer_id"], s[6]["customer_id"]}
    assert after["consents"] - before["consents"] == 3  # the resubscribe is recorded only
    kinds = sorted(e["kind"] for e in table(adapters, Event))
    assert kinds.count("opened") == 2 and "group_resubscribed" in kinds and "complained" in kinds
    machine = [e for e in table(adapters, Event) if e["kind"] == "opened" and e["machine"]]
    assert len(machine) == 1
    batches = table(adapters, WebhookBatch)
    assert len(batches) == 4 and all(b["status"] == "processed" for b in batches)
    assert [b["events"] for b in batches] == [len(batch), 0, 0, 0]


def test_out_of_order_events_end_in_the_right_status(adapters: Adapters) -> None:
    s = sent(adapters, 4)
    web = client(adapters)
    post(web, [event("delivered", s[0], 1, 5), event("bounce", s[1], 2, 5, type="bounce")])
    post(web, [event("processed", s[0], 3, 0), event("deferred", s[0], 4, 2)])
    post(web, [event("delivered", s[1], 5, 9), event("processed", s[1], 6, 0)])
    sends = {x["id"]: x for x in table(adapters, Send)}
    assert sends[s[0]["id"]]["delivery"] == "delivered"
    assert sends[s[0]["id"]]["delivery_at"] == OPEN + timedelta(minutes=5)
    assert sends[s[1]["id"]]["delivery"] == "bounced"  # a late "delivered" never erases it


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {TIMESTAMP: "1793534400"},
        {SIGNATURE: "bm90IGEgc2lnbmF0dXJl", TIMESTAMP: "1793534400"},
        {SIGNATURE: "%%% not base64 %%%", TIMESTAMP: "1793534400"},
        "other key",
        "tampered",
        "other timestamp",
    ],
)
def test_forged_or_missing_signatures_are_refused_and_nothing_is_stored(
    adapters: Adapters, headers: Any
) -> None:
    s = sent(adapters, 2)
    body = json.dumps([event("spamreport", s[0], 1)])
    if headers == "other key":
        headers = signed(body, ec.generate_private_key(ec.SECP256R1()))
    elif headers == "tampered":
        headers = signed(body.replace("spamreport", "delivered"))
    elif headers == "other timestamp":
        headers = {**signed(body), TIMESTAMP: "1793534401"}
    answer = post(client(adapters), body, headers)
    assert answer.status_code == 403
    assert table(adapters, WebhookBatch) == [] and counts(adapters)["events"] == 0


def test_without_a_configured_key_every_request_is_refused(adapters: Adapters) -> None:
    s = sent(adapters, 1)
    answer = post(client(adapters, public_key=None), [event("processed", s[0], 1)])
    assert answer.status_code == 403 and table(adapters, WebhookBatch) == []


def test_bad_events_are_quarantined_and_the_rest_applied(adapters: Adapters) -> None:
    s = sent(adapters, 3)
    good = event("delivered", s[0], 1)
    batch = [
        "not an object",
        {**event("delivered", s[1], 2), "sg_event_id": None},
        event("bounce_v9", s[1], 3),
        {**event("delivered", s[1], 4), "timestamp": "yesterday"},
        event("bounce", s[1], 5, type="mystery"),
        good,
        event("unsubscribe", s[2], 6),
    ]
    answer = post(client(adapters), batch)
    assert answer.status_code == 200
    quarantined = sorted(table(adapters, QuarantinedEvent), key=lambda q: q["position"])
    assert [q["position"] for q in quarantined] == [0, 1, 2, 3, 4]
    assert "not an event object" in quarantined[0]["reason"]
    assert "sg_event_id" in quarantined[1]["reason"]
    assert "unknown event type" in quarantined[2]["reason"]
    assert "timestamp" in quarantined[3]["reason"]
    assert "bounce type" in quarantined[4]["reason"]
    assert {e["kind"] for e in table(adapters, Event)} == {"delivered", "unsubscribed"}
    assert table(adapters, WebhookBatch)[0]["quarantined"] == 5
    assert [c for c in table(adapters, Consent) if c["status"] == "withdrawn"]


def test_a_body_that_is_not_a_json_array_is_a_400(adapters: Adapters) -> None:
    for body in ('{"event": "processed"}', "[not json"):
        assert post(client(adapters), body).status_code == 400
    assert counts(adapters)["events"] == 0


def test_unknown_sends_are_reconciled_and_events_without_our_args_still_join(
    adapters: Adapters,
) -> None:
    s = sent(adapters, 4)
    ids = [x["id"] for x in s]
    with adapters.engine.begin() as conn:  # the crash between acceptance and our record
        conn.execute(
            update(Send)
            .where(Send.id.in_(ids[:3]))
            .values(state="unknown", provider_message_id=None, sent_at=None)
        )
    no_args = {k: v for k, v in event("delivered", s[1], 2, 3).items() if not k.startswith("ce_")}
    asynchronous = {
        k: v
        for k, v in event("bounce", s[3], 3, 40, type="bounce").items()
        if not k.startswith("ce_") and k != "sg_message_id"
    }
    answer = post(client(adapters), [event("processed", s[0], 1, 0), no_args, asynchronous])
    assert answer.status_code == 200
    sends = {x["id"]: x for x in table(adapters, Send)}
    assert sends[ids[0]]["state"] == "sent" and sends[ids[0]]["provider_message_id"] == REQUEST_ID
    assert sends[ids[0]]["sent_at"] is not None
    assert sends[ids[1]]["delivery"] is None  # no args, and its message id was lost: unjoined
    assert sends[ids[2]]["state"] == "unknown"  # nothing said about it
    assert sends[ids[3]]["delivery"] == "bounced"  # joined by address and time
    joined = {e["event_key"]: e["send_id"] for e in table(adapters, Event)}
    assert joined["sendgrid:ZmFrZS1ldmVudC00003"] == ids[3]


def test_events_join_by_message_id_and_address_when_our_args_are_missing(
    adapters: Adapters,
) -> None:
    s = sent(adapters, 3)
    stripped = [
        {k: v for k, v in event("delivered", x, n).items() if not k.startswith("ce_")}
        for n, x in enumerate(s, 1)
    ]
    assert post(client(adapters), stripped).status_code == 200
    assert {x["delivery"] for x in table(adapters, Send) if x["state"] == "sent"} == {"delivered"}


def test_a_campaign_is_paused_when_its_complaints_reach_the_limit(adapters: Adapters) -> None:
    s = sent(adapters, 1300)
    assert len(s) >= 1000
    web = client(adapters)
    post(web, [event("spamreport", s[0], 1)])
    campaign = table(adapters, Campaign)[0]
    assert campaign["status"] == "running"  # one in more than 1000: under 0.1%
    post(web, [event("spamreport", s[1], 2)])
    campaign = table(adapters, Campaign)[0]
    assert campaign["status"] == "paused" and "spam complaints" in campaign["status_reason"]
    assert any(a["kind"] == "paused" for a in table(adapters, Alert))


def test_a_database_that_is_down_answers_503(settings: Any) -> None:
    down = bootstrap(settings, "postgresql+psycopg://postgres@127.0.0.1:1/none")
    web = client(down)
    assert post(web, [event("processed", {"id": 1, "email": "a@b.c"}, 1)]).status_code == 503


def test_parsing_and_the_complaint_rule() -> None:
    assert isinstance(parse_event([], "ce_"), Unusable)
    parsed = parse_event(
        event("open", {"id": 7, "email": "A@B.example"}, 1, sg_machine_open=True), "ce_"
    )
    assert not isinstance(parsed, Unusable)
    assert (parsed.send_id, parsed.email, parsed.machine, parsed.message_id) == (
        7,
        "a@b.example",
        True,
        REQUEST_ID,
    )
    assert parsed.key == "sendgrid:ZmFrZS1ldmVudC00001"
    assert complaint_pause(5, 999) is None  # too few sent to judge
    assert complaint_pause(1, 1001) is None and complaint_pause(2, 1001) is not None
    assert complaint_pause(1, 1000) is not None
