"""`campaign db check`: the keys `contacts`, `sends` and `events` no longer declare still hold."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, insert, select, update

from engine.bootstrap import Adapters
from engine.cli import cli
from engine.db import integrity
from engine.db.models import Cell, Contact, Event, Send

from .conftest import NOW
from .report_campaign import build


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
    }
    env = {"ENGINE_DATABASE_URL": database_url, "ENGINE_CONFIG": ""}
    result = CliRunner().invoke(cli, ["db", "check"], env=env)
    assert result.exit_code == 1
    assert "sends without their contact" in result.output
