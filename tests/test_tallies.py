"""The report tallies the triggers keep always equal a recount from the rows.

Random inserts and updates of contacts and sends, one row or many per
statement, with states, delivery outcomes, opens and clicks coming and going;
after each round the tallies (folded on PostgreSQL) are compared with a count
made in Python from the rows themselves.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from click.testing import CliRunner
from sqlalchemy import Engine, insert, select, text, update

from engine.cli import cli
from engine.db import tallies
from engine.db.connect import make_engine
from engine.db.models import Campaign, Cell, Contact, Customer, Send
from engine.db.sandbox import throwaway_copy

from .conftest import NOW

STATES = ["queued", "sending", "sent", "unknown", "failed", "skipped", "cancelled"]
DELIVERIES = [None, None, "delivered", "read", "bounced", "blocked", "deferred"]
AT = {"created_at": NOW, "updated_at": NOW}


def test_tallies_equal_a_recount_after_random_changes(database_url: str) -> None:
    engine = make_engine(database_url)
    rng = random.Random(7)
    _campaigns(engine)
    contacts = _contacts(engine, rng, 60)
    sends = _sends(engine, rng, contacts)
    for _round in range(12):
        _change(engine, rng, sends)
        assert _tallied(engine) == _recounted(engine)
    tallies.compact(engine)  # a second fold changes nothing
    assert _tallied(engine) == _recounted(engine)
    engine.dispose()


def test_postgresql_appends_per_statement_and_compact_folds(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    rng = random.Random(3)
    _campaigns(engine)
    _sends(engine, rng, _contacts(engine, rng, 20))
    with engine.connect() as conn:
        appended = conn.execute(text("SELECT count(*) FROM send_tallies WHERE seq <> 0")).scalar()
    assert appended  # one row per key and statement, no shared counter row
    tallies.compact(engine)
    with engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM send_tallies WHERE seq <> 0")).scalar()
    assert left == 0
    assert _tallied(engine) == _recounted(engine)
    engine.dispose()


def _campaigns(engine: Engine) -> None:
    with engine.begin() as conn:
        for campaign in (1, 2):
            conn.execute(
                insert(Campaign),
                {"id": campaign, "key": f"k{campaign}", "name": "K", "kind": "batch"}
                | {"spec_yaml": "", "spec_hash": "", "salt": "", "status": "running"}
                | {"starts_at": NOW}
                | AT,
            )
            for offset, code in enumerate(("control", "a")):
                conn.execute(
                    insert(Cell),
                    {"id": campaign * 10 + offset, "campaign_id": campaign, "code": code}
                    | {"is_control": offset == 0, "share": 0.5, "vars": {}},
                )


def _contacts(engine: Engine, rng: random.Random, n: int) -> list[tuple[int, int]]:
    """(contact id, campaign id) of `n` customers in both campaigns, some suppressed."""
    rows: list[dict[str, Any]] = []
    for customer in range(1, n + 1):
        for campaign in (1, 2):
            status = rng.choice(["treated", "treated", "held_out", "suppressed"])
            cell = None if status == "suppressed" else campaign * 10 + (status == "treated")
            rows.append(
                {"id": len(rows) + 1, "campaign_id": campaign, "customer_id": customer}
                | {"cell_id": cell, "status": status, "entered_at": NOW, "entry": 1}
            )
    with engine.begin() as conn:
        conn.execute(
            insert(Customer),
            [
                {"id": i, "external_id": f"c{i}", "origin": "internal", "source_name": "shop"}
                | {"trust": 100, "data_as_of": NOW, "attributes": {}}
                | AT
                for i in range(1, n + 1)
            ],
        )
        conn.execute(insert(Contact), rows)
    return [(row["id"], row["campaign_id"]) for row in rows]


def _sends(engine: Engine, rng: random.Random, contacts: list[tuple[int, int]]) -> list[int]:
    rows = [
        {"contact_id": contact, "campaign_id": campaign, "customer_id": contact, "step": step}
        | {"channel": "email", "due_at": NOW, "attempts": 0}
        | _outcome(rng)
        | AT
        for contact, campaign in contacts
        for step in ("offer", "reminder")
        if rng.random() < 0.8
    ]
    with engine.begin() as conn:
        conn.execute(insert(Send), rows[: len(rows) // 2])  # many rows per statement
        for row in rows[len(rows) // 2 :]:  # and one at a time
            conn.execute(insert(Send), row)
        return list(conn.execute(select(Send.id)).scalars())


def _outcome(rng: random.Random) -> dict[str, Any]:
    return {
        "state": rng.choice(STATES),
        "delivery": rng.choice(DELIVERIES),
        "opened_at": NOW if rng.random() < 0.3 else None,
        "clicked_at": NOW if rng.random() < 0.15 else None,
    }


def _change(engine: Engine, rng: random.Random, sends: list[int]) -> None:
    with engine.begin() as conn:
        for send in rng.sample(sends, 10):  # single rows
            conn.execute(update(Send).where(Send.id == send).values(**_outcome(rng)))
        chosen = rng.sample(sends, 25)  # and a set-based statement
        conn.execute(update(Send).where(Send.id.in_(chosen)).values(**_outcome(rng)))
        conn.execute(update(Send).where(Send.id.in_(chosen[:5])).values(updated_at=NOW))


def _tallied(engine: Engine) -> tuple[Counter[tuple[Any, ...]], Counter[tuple[Any, ...]]]:
    tallies.compact(engine)
    found: list[Counter[tuple[Any, ...]]] = [Counter(), Counter()]
    with engine.connect() as conn:
        for campaign in (1, 2):
            for index, statement in enumerate((tallies.CONTACTS, tallies.SENDS)):
                for *key, n in conn.execute(statement, {"campaign": campaign}):
                    found[index][(campaign, *key)] += int(n)
    return found[0], found[1]


def _recounted(engine: Engine) -> tuple[Counter[tuple[Any, ...]], Counter[tuple[Any, ...]]]:
    with engine.connect() as conn:
        contacts = {row.id: row for row in conn.execute(select(Contact))}
        sends = list(conn.execute(select(Send)))
    reach: Counter[int] = Counter()
    per_step: Counter[tuple[Any, ...]] = Counter()
    for send in sends:
        contact = contacts[send.contact_id]
        if contact.status == "suppressed":
            continue
        flags = _flags(send)
        per_step[(send.campaign_id, send.step, contact.cell_id, _code(send, flags))] += 1
        if send.state in ("sent", "unknown"):
            reach[contact.id] |= tallies.WENT | flags
    per_contact = Counter(
        (c.campaign_id, c.cell_id, c.status, reach[c.id])
        for c in contacts.values()
        if c.status != "suppressed"
    )
    return per_contact, per_step


def _flags(send: Any) -> int:
    delivered = 8 if send.delivery in ("delivered", "read") else 0
    bounced = 4 if send.delivery in ("bounced", "blocked") else 0
    return delivered | bounced | (2 if send.opened_at else 0) | (1 if send.clicked_at else 0)


def _code(send: Any, flags: int) -> int:
    return (tallies.STATES.index(send.state) + 1) * 16 + flags


def test_a_throwaway_copy_counts_the_same(database_url: str) -> None:
    """The simulator's copy: its triggers recount the copied rows, nothing twice."""
    engine = make_engine(database_url)
    rng = random.Random(5)
    _campaigns(engine)
    _change(engine, rng, _sends(engine, rng, _contacts(engine, rng, 30)))
    with throwaway_copy(database_url) as url:
        copy = make_engine(url)
        assert _tallied(copy) == _tallied(engine) == _recounted(copy)
        copy.dispose()
    engine.dispose()


def test_recount_rebuilds_tallies_the_triggers_missed(database_url: str) -> None:
    engine = make_engine(database_url)
    rng = random.Random(11)
    _campaigns(engine)
    _change(engine, rng, _sends(engine, rng, _contacts(engine, rng, 30)))
    with engine.begin() as conn:  # as if rows had been written around the triggers
        conn.execute(text("UPDATE send_tallies SET n = n + 5"))
        conn.execute(text("DELETE FROM contact_tallies WHERE status = 'held_out'"))
    assert _tallied(engine) != _recounted(engine)
    tallies.recount(engine)
    assert _tallied(engine) == _recounted(engine)
    env = {"ENGINE_DATABASE_URL": database_url, "ENGINE_CONFIG": ""}
    result = CliRunner().invoke(cli, ["db", "recount"], env=env)
    assert result.exit_code == 0 and "rebuilt" in result.output
    assert _tallied(engine) == _recounted(engine)
    engine.dispose()
