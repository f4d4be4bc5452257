"""The event ledger: raw batches stored first, events recorded once, sends updated.

`SqlLedger.store_batch` commits the raw body on its own before anything is
parsed, so an accepted callback is never lost. `unit()` opens one
transaction for processing it: events are inserted with ON CONFLICT DO
NOTHING on `events.event_key` and only the newly inserted ones change send
columns, consent or suppressions, so replaying a batch changes nothing and
nothing is half-applied.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    any_,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from engine.core.tracking.events import DELIVERY_RANK, NewEvent
from engine.db.ledger_sets import insert_events, update_sends
from engine.db.models import QuarantinedEvent, Send, WebhookBatch


# Value objects made a thousand times per webhook batch: named tuples are
# immutable too and cost a quarter of a frozen dataclass to build.
class Recorded(NamedTuple):
    """An event new to the ledger, with the send it joined (if any)."""

    event: NewEvent
    campaign_id: int | None
    customer_id: int | None
    channel: str | None  # the send's channel


class SendRef(NamedTuple):
    send_id: int
    contact_id: int
    campaign_id: int
    customer_id: int
    channel: str
    step: str
    state: str
    sent_at: datetime | None


@dataclass(frozen=True)
class SqlLedger:
    engine: Engine

    def store_batch(self, source: str, body: str, headers: dict[str, str], now: datetime) -> int:
        """Keep a verified callback body durably (own transaction); returns its id."""
        with self.engine.begin() as conn:
            return LedgerUnit(conn).store_batch(source, body, headers, now)

    @contextmanager
    def unit(self) -> Iterator[LedgerUnit]:
        """One transaction: everything done through the unit commits together or not at all."""
        with self.engine.begin() as conn:
            yield LedgerUnit(conn)


@dataclass(frozen=True)
class LedgerUnit:
    conn: Connection
    # Sends read in this unit: a batch joins its events to sends once and
    # records them against the same rows, so they are not read twice.
    read: dict[int, SendRef] = field(default_factory=dict)
    # Batches stored in this unit already as processed with these (events,
    # quarantined, at): finishing one the same way writes nothing more.
    born: dict[int, tuple[int, int, datetime]] = field(default_factory=dict)

    def sends(self, ids: Collection[int]) -> dict[int, SendRef]:
        """The sends with these ids (unknown ids are absent), each as first read in this unit.

        A send's campaign, customer, contact, channel and step never change;
        `state` and `sent_at` are as of that first read.
        """
        missing = sorted({i for i in ids if i not in self.read})
        if missing:
            self.read.update(self._select_sends(missing))
        return {i: self.read[i] for i in ids if i in self.read}

    def store_batch(
        self,
        source: str,
        body: str,
        headers: dict[str, str],
        now: datetime,
        expect: int | None = None,
    ) -> int:
        """Add a verified callback body in this transaction; returns its id.

        Status ``received``; or, given `expect` (the events it will record),
        already ``processed`` with that count: it is processed in this same
        transaction, and `finish_batch` writes only if the outcome differs.
        """
        row = {"source": source, "received_at": now, "body": body, "headers": headers}
        done = {"status": "processed", "events": expect, "processed_at": now}
        if expect is None:
            done = {"status": "received", "events": 0, "processed_at": None}
        batch_id = int(self.conn.execute(_STORE, {**row, **done, "quarantined": 0}).scalar_one())
        if expect is not None:
            self.born[batch_id] = (expect, 0, now)
        return batch_id

    def _select_sends(self, ids: list[int]) -> dict[int, SendRef]:
        postgres = self.conn.dialect.name == "postgresql"
        rows = self.conn.execute(_SENDS_ANY if postgres else _SENDS_IN, {"ids": ids}).all()
        return {row[0]: SendRef._make(row) for row in rows}

    def record(
        self,
        events: Sequence[NewEvent],
        now: datetime,
        batch_id: int | None = None,
        batch_ids: Sequence[int] | None = None,
    ) -> list[Recorded]:
        """Insert the events the ledger does not have yet; update their sends.

        Every event is of `batch_id`, or of its own batch (`batch_ids`, one
        per event, for events of many callbacks applied together). Returns
        only the newly recorded events: effects (consent, suppression,
        responses) are for the caller to apply to those, exactly once.
        """
        batches = batch_ids if batch_ids is not None else [batch_id] * len(events)
        first = {event.key: (event, batch) for event, batch in zip(events, batches, strict=True)}
        unique = [event for event, _ in first.values()]
        if not unique:
            return []
        refs = self.sends([e.send_id for e in unique if e.send_id is not None])
        rows = [_row(e, refs.get(e.send_id or -1), now, b) for e, b in first.values()]
        inserted = self._insert(rows)
        fresh = [event for event in unique if event.key in inserted]
        self._update_sends(fresh, refs)
        return [
            Recorded(
                event,
                ref.campaign_id if ref else None,
                ref.customer_id if ref else event.customer_id,
                ref.channel if ref else None,
            )
            for event in fresh
            for ref in [refs.get(event.send_id or -1)]
        ]

    def _insert(self, rows: list[dict[str, Any]]) -> set[str]:
        """Insert event rows new to the ledger (ON CONFLICT DO NOTHING); returns their keys.

        One statement over a JSON parameter (`engine.db.ledger_sets`).
        """
        return insert_events(self.conn, rows)

    def quarantine(
        self, batch_id: int | None, source: str, position: int, reason: str, raw: str, now: datetime
    ) -> None:
        self.conn.execute(
            insert(QuarantinedEvent).values(
                batch_id=batch_id,
                source=source,
                position=position,
                reason=reason[:500],
                raw=raw,
                created_at=now,
            )
        )

    def finish_batch(self, batch_id: int, events: int, quarantined: int, now: datetime) -> None:
        if self.born.get(batch_id) == (events, quarantined, now):
            return  # stored so in this transaction (a callback's usual outcome)
        self.conn.execute(
            _FINISH, {"bid": batch_id, "at": now, "events": events, "quarantined": quarantined}
        )

    def _update_sends(self, fresh: list[NewEvent], refs: dict[int, SendRef]) -> None:
        """Delivery status by rank (never down), first human open and click.

        Reduced to one change per send first (the highest-ranked status, the
        first of equals; the earliest open and click), which is what applying
        the events one by one would leave; then ONE statement updates every
        send of the batch once, over a JSON parameter.
        """
        changes: dict[int, dict[str, Any]] = {}
        for e in fresh:
            if e.send_id not in refs:
                continue
            rank = DELIVERY_RANK.get(e.kind, 0)
            first = _FIRST.get(e.kind) if not e.machine else None
            if not rank and first is None:
                continue
            change = changes.get(e.send_id)
            if change is None:
                change = changes[e.send_id] = dict(_NO_CHANGE, sid=e.send_id)
            if rank > change["rank"]:
                change.update(status=e.kind, rank=rank, at=e.occurred_at)
            if first is not None and (change[first] is None or e.occurred_at < change[first]):
                change[first] = e.occurred_at
        if not changes:
            return
        update_sends(self.conn, list(changes.values()))


# The ledger kinds that set a send's first-time column, and an empty change.
_FIRST: dict[str, str] = {"opened": "opened", "clicked": "clicked"}
_NO_CHANGE: dict[str, Any] = {
    "status": None,
    "rank": 0,
    "at": None,
    "opened": None,
    "clicked": None,
}


# Built once: a callback's few statements cost more to build than to run.
_STORE = insert(WebhookBatch).returning(WebhookBatch.id)
_SEND_REF = select(
    Send.id,
    Send.contact_id,
    Send.campaign_id,
    Send.customer_id,
    Send.channel,
    Send.step,
    Send.state,
    Send.sent_at,
)
# PostgreSQL: ``= ANY(array)``, one parameter for any number of ids.
_SENDS_ANY = _SEND_REF.where(Send.id == any_(bindparam("ids", type_=ARRAY(BigInteger))))
_SENDS_IN = _SEND_REF.where(Send.id.in_(bindparam("ids", expanding=True)))
_FINISH = (
    update(WebhookBatch)
    .where(WebhookBatch.id == bindparam("bid"))
    .values(
        status="processed",
        processed_at=bindparam("at", type_=WebhookBatch.processed_at.type),
        events=bindparam("events"),
        quarantined=bindparam("quarantined"),
    )
)


def _row(
    event: NewEvent, ref: SendRef | None, now: datetime, batch_id: int | None
) -> dict[str, Any]:
    return {
        "event_key": event.key,
        "source": event.source,
        "kind": event.kind,
        "send_id": event.send_id if ref else None,
        "campaign_id": ref.campaign_id if ref else None,
        "customer_id": ref.customer_id if ref else event.customer_id,
        "occurred_at": event.occurred_at,
        "recorded_at": now,
        "machine": event.machine,
        "url": event.url,
        "detail": dict(event.detail),
        "batch_id": batch_id,
    }
