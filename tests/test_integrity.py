"""`campaign db check`: the keys `contacts`, `sends`, `events`, `orders`, source links,
consents and the import batch ids no longer declare still hold."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, insert, select, update

from engine.bootstrap import Adapters
from engine.cli import cli
from engine.db import integrity
from engine.db.models import (
    Cell,
    Consent,
    Contact,
    Customer,
    CustomerSource,
    Event,
    Order,
    Response,
    Send,
)

from .conftest import NOW
from .report_campaign import build

IMPORT_CHECKS = (
    "orders without their customer",
    "customer_sources without their customer",
    "consents without their customer",
    "orders without their import batch",
    "customers without their import batch",
    "customer_sources without their import batch",
    "responses without their customer",
)


def test_a_launched_campaign_breaks_no_check(adapters: Adapters) -> None:
    build(adapters.engine)
    assert [f.rows for f in integrity.check(adapters.engine)] == [0] * len(integrity.CHECKS)


def test_every_kind_of_orphan_is_found_and_the_command_fails(
    adapters: Adapters, database_url: str, tmp_path: Path
) -> None:
    campaign = build(adapters.engine)
    with adapters.engine.begin() as conn:
        contact = conn.execute(select(Contact).where(Contact.cell_id.is_not(None))).first()
        assert contact is not None
        other = conn.execute(
            insert(Cell).returning(Cell.id),
            {"campaign_id": campaign, "code": "z", "is_control": False, "share": 0.0, "vars": {}},
        ).scalar_one()
        base = {"status": "treated", "entered_at": NOW, "entry": 1}
        conn.execute(insert(Contact), base | {"campaign_id": 999, "customer_id": 999_999})
        conn.execute(
            insert(Contact),
            base
            | {"campaign_id": campaign, "customer_id": contact.customer_id, "entry": 2}
            | {"cell_id": other + 1000},
        )
        conn.execute(
            insert(Send),
            {"contact_id": 888_888, "campaign_id": campaign, "customer_id": 1, "step": "offer"}
            | {"channel": "email", "due_at": NOW, "state": "queued", "attempts": 0}
            | {"created_at": NOW, "updated_at": NOW},
        )
        send = conn.execute(select(Send.id).order_by(Send.id).limit(1)).scalar_one()
        conn.execute(update(Send).where(Send.id == send).values(customer_id=-1))
        event = {"source": "sendgrid", "kind": "opened", "occurred_at": NOW, "recorded_at": NOW}
        for key, ids in (
            ("lost-send", {"send_id": 777_777, "campaign_id": campaign, "customer_id": 1}),
            ("other-customer", {"send_id": send, "campaign_id": campaign, "customer_id": 5}),
            ("lost-customer", {"customer_id": 999_999}),
            ("lost-batch", {"batch_id": 666_666}),
        ):
            conn.execute(insert(Event), event | ids | {"event_key": key, "detail": {}})
        # the send whose customer changed takes its own events along
        moved = conn.execute(select(func.count()).where(Event.send_id == send)).scalar_one()
    found = {f.check: f.rows for f in integrity.check(adapters.engine)}
    assert found == {
        "contacts without their campaign": 1,
        "contacts without a cell of their campaign": 1,
        "contacts without their customer": 1,
        "sends without their contact": 1,
        "sends whose campaign or customer is not their contact's": 1,
        "events without their send": 1,
        "events whose campaign or customer is not their send's": moved,
        "events without their customer": 1,
        "events without their webhook batch": 1,
    } | {check: 0 for check in IMPORT_CHECKS}
    env = {"ENGINE_DATABASE_URL": database_url, "ENGINE_CONFIG": ""}
    result = CliRunner().invoke(cli, ["db", "check"], env=env)
    assert result.exit_code == 1
    assert "sends without their contact" in result.output


def test_orders_and_rows_of_an_unknown_import_batch_are_found(adapters: Adapters) -> None:
    build(adapters.engine)
    with adapters.engine.begin() as conn:
        customer = conn.execute(select(Customer).limit(1)).one()
        conn.execute(update(Customer).where(Customer.id == customer.id).values(import_batch_id=777))
        order = {"source_name": "shop", "ordered_at": NOW, "amount_cents": 1, "currency": "CNY"}
        order |= {"base_amount_cents": 1, "quantity": 1}
        conn.execute(insert(Order), order | {"customer_id": 999_999, "external_order_id": "a"})
        conn.execute(
            insert(CustomerSource),
            {"customer_id": 999_999, "source_name": "x", "origin": "internal"}
            | {"source_ref": "r", "trust": 1, "import_batch_id": 777, "first_seen_at": NOW},
        )
        conn.execute(
            insert(Consent),
            {"customer_id": 999_999, "channel": "email", "status": "granted", "recorded_at": NOW}
            | {"source": "t", "evidence": "e"},
        )
        conn.execute(
            insert(Order),
            order | {"customer_id": customer.id, "external_order_id": "b", "import_batch_id": 777},
        )
        conn.execute(
            insert(Response),
            {"source": "shop", "source_ref": "a", "kind": "purchase", "customer_id": 999_999}
            | {"attribution": "none", "occurred_at": NOW, "recorded_at": NOW, "detail": {}},
        )
    found = {f.check: f.rows for f in integrity.check(adapters.engine)}
    assert {check: found[check] for check in IMPORT_CHECKS} == dict.fromkeys(IMPORT_CHECKS, 1)
