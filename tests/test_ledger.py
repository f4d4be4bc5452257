"""The event ledger: events once per key, delivery status only up, first opens and clicks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.bootstrap import Adapters
from engine.core.tracking.events import NewEvent, advances
from engine.db.ledger import SqlLedger
from engine.db.models import Event, Send, WebhookBatch
from engine.db.optouts import set_consent
from engine.db.provider_events import SqlProviderEvents

from .test_dispatch import OPEN, launch, people, table


def event(key: str, kind: str, send_id: int, minutes: int = 0, **kw: object) -> NewEvent:
    return NewEvent(key, "test", kind, OPEN + timedelta(minutes=minutes), send_id=send_id, **kw)  # type: ignore[arg-type]


def test_replayed_events_are_recorded_once_and_status_never_goes_down(adapters: Adapters) -> None:
    people(adapters, 5)
    launch(adapters, now=OPEN)
    sid = table(adapters, Send)[0]["id"]
    ledger = SqlLedger(adapters.engine)
    batch = ledger.store_batch("test", "[...]", {"x": "1"}, OPEN)
    events = [
        event("a", "processed", sid, 0),
        event("b", "bounced", sid, 2),
        event("c", "delivered", sid, 5),  # late and out of order: the bounce stands
        event("d", "opened", sid, 9, machine=True),
        event("e", "opened", sid, 12),
        event("f", "opened", sid, 11),
        event("g", "clicked", sid, 13, url="https://shop.example/"),
    ]
    with ledger.unit() as unit:
        fresh = unit.record(events, OPEN, batch)
        unit.finish_batch(batch, len(fresh), 0, OPEN)
    assert [r.event.key for r in fresh] == list("abcdefg")
    assert {r.campaign_id for r in fresh} != {None} and fresh[0].channel == "email"
    for _ in range(3):  # replays change nothing
        with ledger.unit() as unit:
            assert unit.record(events, OPEN + timedelta(hours=1), batch) == []
    send = next(s for s in table(adapters, Send) if s["id"] == sid)
    assert send["delivery"] == "bounced" and send["delivery_at"] == OPEN + timedelta(minutes=2)
    assert send["opened_at"] == OPEN + timedelta(minutes=11)  # first human open
    assert send["clicked_at"] == OPEN + timedelta(minutes=13)
    with adapters.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Event)).scalar_one() == 7
        assert conn.execute(select(WebhookBatch.status)).scalar_one() == "processed"


def test_delivery_ranks() -> None:
    assert advances(None, "processed") and advances("processed", "delivered")
    assert not advances("bounced", "delivered") and not advances("failed", "delivered")
    assert not advances("delivered", "delivered") and not advances("delivered", "opened")


def test_consent_changes_are_appended_only_when_they_change(adapters: Adapters) -> None:
    ids = people(adapters, 1, channel="sms")
    with adapters.engine.begin() as conn:
        assert set_consent(conn, ids[0], "sms", "withdrawn", "twilio", "STOP", OPEN)
        assert not set_consent(conn, ids[0], "sms", "withdrawn", "twilio", "STOP", OPEN)
        assert set_consent(conn, ids[0], "sms", "granted", "twilio", "START", OPEN)


def test_a_callback_stored_and_processed_together_is_still_kept_when_processing_fails(
    adapters: Adapters,
) -> None:
    people(adapters, 2)
    launch(adapters, now=OPEN)
    sid = table(adapters, Send)[0]["id"]
    store = SqlProviderEvents(adapters.engine)
    for _ in range(2):  # the second time a replay: its row says it recorded nothing
        with store.stored("twilio_status", "MessageStatus=sent", {}, OPEN) as (batch, unit):
            fresh = unit.record([event("ok", "sms_sent", sid)], OPEN, batch)
            unit.finish_batch(batch, len(fresh), 0, OPEN)
    failing = store.stored("twilio_status", "MessageStatus=failed", {}, OPEN)
    with pytest.raises(RuntimeError, match="a bug"), failing as (batch, unit):
        unit.record([event("lost", "failed", sid)], OPEN, batch)
        raise RuntimeError("a bug in processing")
    batches = sorted(table(adapters, WebhookBatch), key=lambda b: b["id"])
    assert [(b["body"], b["status"], b["events"]) for b in batches] == [
        ("MessageStatus=sent", "processed", 1),
        ("MessageStatus=sent", "processed", 0),
        ("MessageStatus=failed", "received", 0),  # kept, to be processed again
    ]
    assert batches[0]["processed_at"] == OPEN and batches[2]["processed_at"] is None
    assert [e["event_key"] for e in table(adapters, Event)] == ["ok"]  # nothing half-applied
