"""Callbacks kept to be applied later: stored in one statement, claimed in bulk.

`keep` writes a verified callback as a ``received`` row of `webhook_batches`
in ONE autocommitted statement (durable before the answer). `claim` takes
up to a few hundred of them, oldest first, in the caller's transaction
(`engine.db.ledger.LedgerUnit`), marking them processed there: rolled back,
they are ``received`` again. `count_events` then records how many events
each recorded. Used for Twilio status callbacks and, as a safety net, for
inbound texts whose processing failed (`engine.services.ingesting_status`,
`engine.services.ingesting_sms`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, Engine, bindparam, insert, or_, select, update
from sqlalchemy.exc import DBAPIError

from engine.db.models import WebhookBatch


class Kept(NamedTuple):
    """A stored callback claimed for processing."""

    batch_id: int
    body: str
    headers: dict[str, str]
    received_at: datetime


def keep(engine: Engine, source: str, body: str, headers: dict[str, str], now: datetime) -> int:
    """Store a verified callback as ``received`` in ONE autocommitted statement; its id.

    A connection the database dropped (a restart) is retried once on a
    fresh one: some callers, Twilio among them, do not send a callback again.
    """
    row = {"source": source, "received_at": now, "body": body, "headers": headers}
    row |= {"status": "received", "events": 0, "quarantined": 0, "processed_at": None}
    try:
        return _insert(engine, row)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
    return _insert(engine, row)  # the pool has let the dead connection go


def claim(
    conn: Connection, source: str, limit: int, now: datetime, before: datetime | None = None
) -> list[Kept]:
    """Up to `limit` kept callbacks of `source` (received `before`, if given), oldest
    first, marked processed in `conn`'s transaction.

    The first statement writes (an UPDATE .. RETURNING), so SQLite takes
    its write lock at once; PostgreSQL locks the rows it picks and other
    appliers skip them.
    """
    statement = _CLAIM[conn.dialect.name == "postgresql"]
    rows = conn.execute(statement, {"kind": source, "most": limit, "at": now, "before": before})
    return sorted(Kept._make(row) for row in rows)


def count_events(conn: Connection, events: Mapping[int, int]) -> None:
    """Set the events recorded of claimed callbacks (batch id -> count; claimed with 0)."""
    by_count: dict[int, list[int]] = {}
    for bid, n in events.items():
        if n:
            by_count.setdefault(n, []).append(bid)
    for n, ids in by_count.items():  # one statement per count (all 1 for Twilio's)
        conn.execute(_COUNT_EVENTS, {"ids": sorted(ids), "events": n})


def _insert(engine: Engine, row: dict[str, object]) -> int:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        return int(conn.execute(_STORE, row).scalar_one())


_STORE = insert(WebhookBatch).returning(WebhookBatch.id)
_BEFORE = bindparam("before", type_=WebhookBatch.received_at.type)
_PICK = (
    select(WebhookBatch.id)
    .where(
        WebhookBatch.status == "received",
        WebhookBatch.source == bindparam("kind"),
        or_(_BEFORE.is_(None), WebhookBatch.received_at <= _BEFORE),
    )
    .order_by(WebhookBatch.received_at, WebhookBatch.id)
    .limit(bindparam("most"))
)
_CLAIM = {
    postgres: update(WebhookBatch)
    .where(WebhookBatch.id.in_(_PICK.with_for_update(skip_locked=True) if postgres else _PICK))
    .values(
        status="processed",
        processed_at=bindparam("at", type_=WebhookBatch.processed_at.type),
        events=0,
    )
    .returning(WebhookBatch.id, WebhookBatch.body, WebhookBatch.headers, WebhookBatch.received_at)
    for postgres in (False, True)
}
_COUNT_EVENTS = (
    update(WebhookBatch)
    .where(WebhookBatch.id.in_(bindparam("ids", expanding=True)))
    .values(events=bindparam("events"))
    .execution_options(synchronize_session=False)
)
