"""Twilio status callbacks are kept in the request and applied in bulk, on both databases.

The request writes one row (`webhook_batches`, ``received``); the web
process's applier thread, a drain, or the scheduler's ``callbacks`` tick
applies kept callbacks a few hundred per transaction. These tests prove
the bulk path ends exactly where applying one by one would, that appliers
never share a callback, that a failed apply loses nothing, and that the
connection handling around the one write holds.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from twilio.request_validator import RequestValidator

from engine.bootstrap import Adapters
from engine.core.sending.due import suppression_token
from engine.db.connect import make_engine
from engine.db.models import Consent, Customer, Event, Send, Suppression, WebhookBatch
from engine.db.provider_events import SqlProviderEvents
from engine.scheduler import build
from engine.services.ingesting_sms import reapply_inbound
from engine.services.ingesting_status import KIND, apply_statuses, drain_statuses

from .test_dispatch import OPEN, people, table
from .test_webhooks_twilio import (
    PUBLIC,
    TOKEN,
    client,
    inbound,
    post,
    settle,
    sid_of,
    status,
    texted,
)


def kept(adapters: Adapters) -> list[str]:
    """The statuses of the stored status callbacks, oldest first."""
    with adapters.engine.connect() as conn:
        return list(
            conn.execute(
                select(WebhookBatch.status)
                .where(WebhookBatch.source == KIND)
                .order_by(WebhookBatch.id)
            ).scalars()
        )


def deliveries(adapters: Adapters) -> dict[int, str | None]:
    return {s["id"]: s["delivery"] for s in table(adapters, Send)}


def test_a_burst_applied_in_bulk_ends_where_one_by_one_would(adapters: Adapters) -> None:
    sends = texted(adapters, 40)
    rng = random.Random(7)
    expected: dict[int, str] = {}
    callbacks = []
    for s in sends:
        fate = rng.choice(["delivered", "undelivered", "sms_sent"])
        values = ["sent"] if fate == "sms_sent" else ["sent", fate]
        if fate == "undelivered":
            values.append("delivered")  # a later segment's success: the failure stands
        expected[s["id"]] = fate
        callbacks += [(s, v) for v in values]
    callbacks += rng.sample(callbacks, 15)  # Twilio retries
    rng.shuffle(callbacks)  # and nothing arrives in order
    web = client(adapters)
    for s, value in callbacks:
        extra = {"ErrorCode": "30003"} if value == "undelivered" else {}
        path, params = status(s["id"], sid_of(s["id"]), value, s["phone"], **extra)
        assert post(web, path, params).status_code == 200
    assert set(kept(adapters)) == {"received"}  # the answers came before any processing
    assert settle(web) == len(callbacks)
    got = deliveries(adapters)
    assert {i: got[i] for i in expected} == expected
    unique = {(s["id"], v) for s, v in callbacks}
    with adapters.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Event)).scalar_one() == len(unique)
        counted = conn.execute(
            select(func.sum(WebhookBatch.events)).where(WebhookBatch.source == KIND)
        ).scalar_one()
    assert counted == len(unique)  # each event counted on the one callback that recorded it
    assert set(kept(adapters)) == {"processed"}
    assert settle(web) == 0


def test_the_web_process_applies_kept_callbacks_by_itself(adapters: Adapters) -> None:
    sends = texted(adapters, 3)
    web = client(adapters, background=True)
    statuses = web.application.extensions["engine"].statuses
    try:
        for s in sends:
            path, params = status(s["id"], sid_of(s["id"]), "delivered", s["phone"])
            assert post(web, path, params).status_code == 200
        deadline = time.monotonic() + 20
        while set(kept(adapters)) != {"processed"} and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        statuses.close()
    assert set(kept(adapters)) == {"processed"}
    assert {deliveries(adapters)[s["id"]] for s in sends} == {"delivered"}


def test_the_scheduler_applies_what_a_stopped_web_process_kept(adapters: Adapters) -> None:
    sends = texted(adapters, 4)
    web = client(adapters)  # kept, never drained: the process "stopped"
    for s in sends:
        path, params = status(s["id"], sid_of(s["id"]), "delivered", s["phone"])
        assert post(web, path, params).status_code == 200
    jobs = {job.id: job for job in build(adapters, lambda: None).get_jobs()}
    assert jobs["callbacks"].trigger.interval.total_seconds() == 30
    assert jobs["callbacks"].func() == len(sends) > 0
    assert {deliveries(adapters)[s["id"]] for s in sends} == {"delivered"}
    assert jobs["callbacks"].func() == 0


def test_a_failed_apply_keeps_every_callback_for_the_next(adapters: Adapters) -> None:
    sends = texted(adapters, 3)
    web = client(adapters)
    for s in sends:
        path, params = status(s["id"], sid_of(s["id"]), "delivered", s["phone"])
        post(web, path, params)
    store = SqlProviderEvents(adapters.engine)
    with pytest.raises(RuntimeError), store.claimed(KIND, 10, OPEN) as (claimed, _unit):
        assert len(claimed) == len(sends)
        raise RuntimeError("the process died mid-apply")
    assert kept(adapters) == ["received"] * len(sends)
    assert drain_statuses(store, OPEN + timedelta(hours=1)) == len(sends)
    assert {deliveries(adapters)[s["id"]] for s in sends} == {"delivered"}


def test_two_appliers_never_share_a_callback(adapters: Adapters) -> None:
    sends = texted(adapters, 6)
    assert len(sends) >= 3
    web = client(adapters)
    for s in sends:
        path, params = status(s["id"], sid_of(s["id"]), "delivered", s["phone"])
        post(web, path, params)
    url = adapters.engine.url.render_as_string(hide_password=False)
    other = make_engine(url)
    try:
        first = SqlProviderEvents(adapters.engine)
        second = SqlProviderEvents(other)
        with first.claimed(KIND, 2, OPEN) as (a, _):
            assert len(a) == 2
            if adapters.engine.dialect.name == "postgresql":
                applied = apply_statuses(second, OPEN)  # SKIP LOCKED: the others
                assert applied.callbacks == len(sends) - 2
            else:  # one writer at a time: the second waits (here it gives up soon)
                with other.connect() as conn:
                    conn.exec_driver_sql("PRAGMA busy_timeout = 50")
                    with pytest.raises(OperationalError, match="locked"):
                        conn.execute(text("UPDATE webhook_batches SET status = status"))
    finally:
        other.dispose()
    assert drain_statuses(SqlProviderEvents(adapters.engine), OPEN) == (
        0 if adapters.engine.dialect.name == "postgresql" else len(sends) - 2
    )
    assert set(kept(adapters)) == {"processed"}


def test_a_dropped_connection_is_retried_and_the_callback_kept(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        store = SqlProviderEvents(engine)
        first = store.keep(KIND, "MessageSid=SM1&MessageStatus=sent", {}, OPEN)
        with engine.connect() as conn:  # the pooled connection, used just now: no ping
            backend = conn.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
        admin = make_engine(postgres_url)
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        admin.dispose()
        second = store.keep(KIND, "MessageSid=SM2&MessageStatus=sent", {}, OPEN)
        assert second > first
        with engine.connect() as conn:
            bodies = conn.execute(
                select(WebhookBatch.body).where(WebhookBatch.id.in_([first, second]))
            ).scalars()
            assert sorted(bodies) == [
                "MessageSid=SM1&MessageStatus=sent",
                "MessageSid=SM2&MessageStatus=sent",
            ]
    finally:
        engine.dispose()


def test_a_connection_idle_for_a_while_is_pinged_first(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.db import connect

    monkeypatch.setattr(connect, "PING_IDLE", 0.0)  # every checkout counts as idle
    engine = make_engine(postgres_url)
    admin = make_engine(postgres_url)
    try:
        with engine.connect() as conn:
            backend = conn.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        with engine.connect() as conn:  # the ping finds it dead: a fresh connection instead
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
            assert conn.connection.dbapi_connection.info.backend_pid != backend  # type: ignore[union-attr]
    finally:
        admin.dispose()
        engine.dispose()


def test_a_callback_kept_after_an_idle_spell_is_stored(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The ping of an idle connection once left its transaction open, and the
    # keep's AUTOCOMMIT checkout then failed: Twilio does not resend that callback.
    from engine.db import connect

    monkeypatch.setattr(connect, "PING_IDLE", 0.0)  # every checkout counts as idle
    engine = make_engine(postgres_url)
    try:
        store = SqlProviderEvents(engine)
        kept = [store.keep(KIND, f"MessageSid=SM{n}&MessageStatus=sent", {}, OPEN) for n in (1, 2)]
        assert kept[1] > kept[0]
        with engine.connect() as conn:  # pinged, then handed out outside any transaction
            assert conn.connection.dbapi_connection.info.transaction_status == 0  # type: ignore[union-attr]
            found = conn.execute(select(WebhookBatch.id).where(WebhookBatch.id.in_(kept)))
            assert sorted(found.scalars()) == kept
    finally:
        engine.dispose()


def test_a_signature_over_the_url_with_its_port_is_still_twilios(adapters: Adapters) -> None:
    sends = texted(adapters, 2)
    path, params = status(sends[0]["id"], sid_of(sends[0]["id"]), "delivered", sends[0]["phone"])
    with_port = PUBLIC.replace("hooks.shop.example", "hooks.shop.example:443") + path
    signature = RequestValidator(TOKEN).compute_signature(with_port, params)
    web = client(adapters)
    assert post(web, path, params, signature).status_code == 200
    assert post(web, path, params, signature[:-2] + "xx").status_code == 403
    assert settle(web) == 1


def test_a_stop_whose_processing_failed_is_applied_by_the_scheduler(
    adapters: Adapters, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.services import ingesting_sms

    ids = people(adapters, 2, channel="sms")
    phone = next(c["phone"] for c in table(adapters, Customer) if c["id"] == ids[0])
    web = client(adapters)

    def broken(*_args: object) -> None:
        raise RuntimeError("processing failed")

    monkeypatch.setattr(ingesting_sms, "_apply_inbound", broken)
    assert (
        post(web, "/webhooks/twilio/inbound", inbound(phone, "STOP", "SMlost1")).status_code == 500
    )
    monkeypatch.undo()
    stored = [b for b in table(adapters, WebhookBatch) if b["source"] == "twilio_inbound"]
    assert [b["status"] for b in stored] == ["received"]  # kept, though nothing applied
    assert not [c for c in table(adapters, Consent) if c["status"] == "withdrawn"]
    jobs = {job.id: job for job in build(adapters, lambda: None).get_jobs()}
    assert jobs["callbacks"].func() == 1  # received long enough ago
    withdrawn = [c for c in table(adapters, Consent) if c["status"] == "withdrawn"]
    assert [c["customer_id"] for c in withdrawn] == [ids[0]]
    assert [x["token_hash"] for x in table(adapters, Suppression)] == [
        suppression_token("phone", phone)
    ]
    assert jobs["callbacks"].func() == 0


def test_a_text_stored_moments_ago_is_left_to_its_request(adapters: Adapters) -> None:
    store = SqlProviderEvents(adapters.engine)
    store.store_batch("twilio_inbound", "MessageSid=SMx&From=%2B8613900000001&Body=STOP", {}, OPEN)
    assert reapply_inbound(store, OPEN + timedelta(seconds=30)) == 0
    assert reapply_inbound(store, OPEN + timedelta(minutes=2)) == 1
