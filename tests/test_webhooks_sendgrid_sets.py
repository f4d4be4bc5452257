"""SendGrid batches applied set-based: effects once per address and customer, odd JSON still read."""

from __future__ import annotations

import gc
import json
from datetime import timedelta

import pytest
from sqlalchemy import bindparam, text, update

from engine.bootstrap import Adapters
from engine.core.sending.due import suppression_token
from engine.db.models import Consent, Event, QuarantinedEvent, Send, Suppression, WebhookBatch
from engine.services import ingesting
from engine.web import production_app

from .test_dispatch import OPEN, table
from .test_webhooks_sendgrid import client, event, post, sent


def test_a_batch_suppresses_an_address_once_and_withdraws_a_customer_once(
    adapters: Adapters,
) -> None:
    s = sent(adapters, 4)
    web = client(adapters)
    post(web, [event("bounce", s[3], 1, type="bounce")])  # already suppressed before the batch
    batch = [
        event("bounce", s[0], 2, type="bounce"),
        event("bounce", s[0], 3, type="bounce"),  # the same address again
        event("bounce", s[3], 4, type="bounce"),
        event("unsubscribe", s[1], 5),
        event("spamreport", s[1], 6),  # the same customer again
        event("group_unsubscribe", s[2], 7, asm_group_id=3),
    ]
    assert post(web, batch).status_code == 200
    tokens = sorted(x["token_hash"] for x in table(adapters, Suppression))
    expected = [suppression_token("email", s[i]["email"]) for i in (0, 3)]
    assert tokens == sorted(expected)
    withdrawn = [c for c in table(adapters, Consent) if c["status"] == "withdrawn"]
    by_customer = {c["customer_id"]: c["evidence"] for c in withdrawn}
    assert len(withdrawn) == 2 == len(by_customer)
    assert by_customer[s[1]["customer_id"]] == "sendgrid unsubscribed: sendgrid:ZmFrZS1ldmVudC00005"
    assert "group_unsubscribed" in by_customer[s[2]["customer_id"]]
    post(web, batch)  # a replay changes nothing
    assert len(table(adapters, Suppression)) == 2
    assert len([c for c in table(adapters, Consent) if c["status"] == "withdrawn"]) == 2


def test_one_update_per_send_leaves_what_the_events_one_by_one_would(adapters: Adapters) -> None:
    s = sent(adapters, 2)
    web = client(adapters)
    post(web, [event("open", s[0], 1, 30, sg_machine_open=False)])
    batch = [
        event("delivered", s[0], 2, 2),
        event("open", s[0], 3, 4, sg_machine_open=True),  # a machine open sets nothing
        event("open", s[0], 4, 20, sg_machine_open=False),  # earlier than the stored one
        event("click", s[0], 5, 25, url="https://shop.example/"),
        event("bounce", s[1], 6, 3, type="bounce"),
        event("delivered", s[1], 7, 1),  # lower rank: the bounce stays
        event("processed", s[1], 8, 0),
    ]
    assert post(web, batch).status_code == 200
    sends = {x["id"]: x for x in table(adapters, Send)}
    first, second = sends[s[0]["id"]], sends[s[1]["id"]]
    assert first["delivery"] == "delivered" and first["delivery_at"] == OPEN + timedelta(minutes=2)
    assert first["opened_at"] == OPEN + timedelta(minutes=20)
    assert first["clicked_at"] == OPEN + timedelta(minutes=25)
    assert second["delivery"] == "bounced" and second["delivery_at"] == OPEN + timedelta(minutes=3)
    assert second["opened_at"] is None
    events = {e["event_key"]: e for e in table(adapters, Event)}
    assert events["sendgrid:ZmFrZS1ldmVudC00006"]["customer_id"] == s[1]["customer_id"]
    assert events["sendgrid:ZmFrZS1ldmVudC00006"]["campaign_id"] == s[1]["campaign_id"]


def test_a_batch_stores_times_and_values_as_the_models_do(adapters: Adapters) -> None:
    # The batch goes to the database as one JSON document: what it stores
    # must be what the models store, or comparing times in SQL goes wrong.
    s = sent(adapters, 1)
    stored = OPEN + timedelta(minutes=10, microseconds=5)  # an open the models wrote
    with adapters.engine.begin() as conn:
        conn.execute(update(Send).where(Send.id == s[0]["id"]).values(opened_at=stored))
    web = client(adapters)
    later = event("open", s[0], 1, 11, sg_machine_open=False, useragent="Mozilla/5.0 ü")
    assert post(web, [later]).status_code == 200
    assert table(adapters, Send)[0]["opened_at"] == stored  # later than the stored one
    assert post(web, [event("open", s[0], 2, 10, sg_machine_open=True)]).status_code == 200
    assert table(adapters, Send)[0]["opened_at"] == stored  # a machine open sets nothing
    assert post(web, [event("open", s[0], 3, 10, sg_machine_open=False)]).status_code == 200
    assert table(adapters, Send)[0]["opened_at"] == OPEN + timedelta(minutes=10)  # 5 µs earlier
    opened = {e["event_key"][-2:]: e for e in table(adapters, Event)}
    assert opened["01"]["detail"]["useragent"] == "Mozilla/5.0 ü"
    assert opened["01"]["machine"] is False and opened["02"]["machine"] is True
    assert opened["01"]["url"] is None
    same = text("SELECT count(*) FROM events WHERE occurred_at = :at AND machine = :machine")
    bound = same.bindparams(
        bindparam("at", OPEN + timedelta(minutes=11), type_=Event.occurred_at.type),
        bindparam("machine", False, type_=Event.machine.type),
    )
    with adapters.engine.connect() as conn:
        assert conn.execute(bound).scalar_one() == 1


def test_a_batch_whose_processing_fails_is_still_kept_and_nothing_is_half_applied(
    adapters: Adapters, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The body is stored in the transaction that processes it; should that
    # fail, it is stored on its own before the error answer.
    s = sent(adapters, 1)

    def broken(*_: object) -> None:
        raise RuntimeError("a bug in the effects")

    monkeypatch.setattr(ingesting, "_email_effects", broken)
    body = json.dumps([event("delivered", s[0], 1), event("unsubscribe", s[0], 2)])
    assert post(client(adapters), body).status_code == 500  # SendGrid retries
    batches = table(adapters, WebhookBatch)
    assert [(b["body"], b["status"], b["events"]) for b in batches] == [(body, "received", 0)]
    assert table(adapters, Event) == [] and table(adapters, Send)[0]["delivery"] is None
    monkeypatch.undo()
    assert post(client(adapters), body).status_code == 200  # SendGrid's retry applies it
    assert {e["kind"] for e in table(adapters, Event)} == {"delivered", "unsubscribed"}


def test_json_the_fast_parser_refuses_is_still_read(adapters: Adapters) -> None:
    # orjson refuses NaN and integers past 64 bits; the standard library reads them.
    s = sent(adapters, 1)
    body = json.dumps([event("delivered", s[0], 1, attempt=2**70, score=float("nan"))])
    assert "NaN" in body
    assert post(client(adapters), body).status_code == 200
    assert [e["kind"] for e in table(adapters, Event)] == ["delivered"]
    assert "attempt" not in table(adapters, Event)[0]["detail"]  # the raw batch keeps it
    assert table(adapters, QuarantinedEvent) == []


def test_the_production_app_freezes_its_start_up_objects_for_the_collector(
    adapters: Adapters,
) -> None:
    gc.unfreeze()
    try:
        app = production_app(adapters.settings)
        assert gc.get_freeze_count() > 0  # the collector's full passes skip them
        assert app.test_client().post("/webhooks/sendgrid", data="[]").status_code == 403
    finally:
        gc.unfreeze()
        app.extensions["engine"].adapters.engine.dispose()
