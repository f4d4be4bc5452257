"""Use cases: shop, mail-house and call-centre callbacks turned into responses,
ledger events and suppressions (`ingest_shop`, `ingest_mail`, `ingest_calls`).

Each runs inside one transaction (the caller's ledger unit) on a raw batch
already stored: a bad item is quarantined with its reason and the good ones
are applied; effects (suppressions, consent) follow only events new to the
ledger, and responses are stored once, so a replayed batch changes nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from engine.core.codes import CodeBook
from engine.core.normalize import Invalid
from engine.core.orders import OrderOptions, OrderRecord
from engine.core.sending.due import SuppressionKind, postal_address
from engine.core.tracking.attribution import CampaignRule
from engine.core.tracking.business import (
    CallEvent,
    MailEvent,
    Reference,
    ShopEvent,
    parse_call,
    parse_mail,
    parse_shop,
)
from engine.core.tracking.events import NewEvent
from engine.services.responding import History, Incoming, credit_responses


class Recorded(Protocol):
    @property
    def event(self) -> NewEvent: ...


class Ledger(Protocol):
    """The ledger unit of engine.db.ledger (one transaction)."""

    def record(
        self, events: Sequence[NewEvent], now: datetime, batch_id: int | None = None
    ) -> Sequence[Recorded]: ...
    def quarantine(
        self, batch_id: int | None, source: str, position: int, reason: str, raw: str, now: datetime
    ) -> None: ...
    def finish_batch(self, batch_id: int, events: int, quarantined: int, now: datetime) -> None: ...


class Business(History, Protocol):
    """What the callbacks read and write besides responses (same transaction)."""

    def latest_sends(self, contacts: Collection[int], channel: str) -> dict[int, int]: ...
    def customers(
        self, source: str, external_ids: Collection[str], emails: Collection[str]
    ) -> tuple[dict[str, int], dict[str, int]]: ...
    def profiles(self, ids: Collection[int]) -> dict[int, dict[str, Any]]: ...
    def add_orders(self, source: str, orders: list[tuple[int, OrderRecord]]) -> int: ...
    def suppress(
        self,
        channel: str,
        kind: SuppressionKind,
        value: str | None,
        customer_id: int | None,
        reason: str,
        source: str,
        now: datetime,
    ) -> None: ...
    def withdraw(
        self, customer_id: int, channel: str, source: str, evidence: str, now: datetime
    ) -> None: ...


@dataclass
class Ingested:
    """What one batch did."""

    events: int = 0  # items applied (new or already known)
    quarantined: int = 0
    orders: int = 0  # new order rows
    responses: Counter[str] = field(default_factory=Counter)  # new responses by attribution
    suppressed: int = 0


@dataclass(frozen=True)
class Batch:
    """A stored raw batch being processed."""

    batch_id: int
    source: str  # the ledger source: shop, mail, calls, returns_file
    items: Sequence[Any]
    now: datetime


class Batches(Protocol):
    """Raw batches stored first, then processed in one unit (engine.db.ledger.SqlLedger)."""

    def store_batch(
        self, source: str, body: str, headers: dict[str, str], now: datetime
    ) -> int: ...
    def unit(self) -> AbstractContextManager[Any]: ...


Handler = Callable[[Any, Batch], Ingested]  # (ledger unit, batch) -> what it did


def run_batch(
    batches: Batches,
    source: str,
    body: str,
    headers: dict[str, str],
    items: Sequence[Any],
    now: datetime,
    handle: Handler,
) -> tuple[int, Ingested]:
    """Store the raw body durably, then process its items in one transaction.

    Returns (batch id, what processing did). If processing fails, the raw
    batch stays stored as ``received`` and nothing of it is applied.
    """
    batch_id = batches.store_batch(source, body, headers, now)
    with batches.unit() as unit:
        return batch_id, handle(unit, Batch(batch_id, source, items, now))


def _quarantine(ledger: Ledger, batch: Batch, position: int, reason: str, out: Ingested) -> None:
    raw = json.dumps(batch.items[position], default=str, ensure_ascii=False)
    ledger.quarantine(batch.batch_id, batch.source, position, reason, raw, batch.now)
    out.quarantined += 1


def ingest_shop(
    ledger: Ledger,
    store: Business,
    batch: Batch,
    shop: str,
    customer_source: str,
    rules: Mapping[int, CampaignRule],
    codes: CodeBook,
    options: OrderOptions,
) -> Ingested:
    """Purchases (also stored as orders) and code redemptions of shop `shop`."""
    out = Ingested()
    parsed: list[tuple[int, ShopEvent]] = _parsed(
        ledger, batch, lambda raw: parse_shop(raw, options), out
    )
    by_ref, by_email = store.customers(
        customer_source,
        {e.external_id for _, e in parsed if e.external_id},
        {e.email for _, e in parsed if e.email},
    )
    items, orders = [], []
    for position, event in parsed:
        customer = _customer(event, by_ref, by_email)
        if customer is None and event.kind == "purchase":
            _quarantine(ledger, batch, position, "unknown customer", out)
            continue
        if event.order is not None and customer is not None:
            orders.append((customer, event.order))
        items.append(_incoming(shop, event, customer))
    out.orders = store.add_orders(shop, orders)
    out.responses = credit_responses(store, rules, codes, items, batch.now)
    out.events = len(items)
    ledger.finish_batch(batch.batch_id, out.events, out.quarantined, batch.now)
    return out


def _customer(event: ShopEvent, by_ref: dict[str, int], by_email: dict[str, int]) -> int | None:
    if event.external_id and event.external_id in by_ref:
        return by_ref[event.external_id]
    return by_email.get(event.email) if event.email else None


def _incoming(shop: str, event: ShopEvent, customer: int | None) -> Incoming:
    return Incoming(
        source=shop,
        source_ref=event.order_id,
        kind=event.kind,
        occurred_at=event.occurred_at,
        customer_id=customer,
        code=event.code,
        value_cents=event.value_cents,
        detail=dict(event.detail),
    )


def _resolve(
    store: Business, codes: CodeBook, refs: Sequence[Reference], channel: str
) -> list[int | None]:
    """The send each reference names on `channel` (a send id, else the code's contact's send)."""
    sends = store.sends([r.send_id for r in refs if r.send_id is not None])
    contacts = {r: codes.contact_id(r.code) for r in refs if r.code and r.send_id is None}
    latest = store.latest_sends({c for c in contacts.values() if c is not None}, channel)
    out: list[int | None] = []
    for ref in refs:
        if ref.send_id is not None:
            send = sends.get(ref.send_id)
            out.append(ref.send_id if send is not None and send.channel == channel else None)
        else:
            contact = contacts.get(ref)
            out.append(latest.get(contact) if contact is not None else None)
    return out


def _parsed(ledger: Ledger, batch: Batch, parse: Any, out: Ingested) -> list[tuple[int, Any]]:
    found = []
    for position, raw in enumerate(batch.items):
        try:
            found.append((position, parse(raw)))
        except Invalid as exc:
            _quarantine(ledger, batch, position, str(exc), out)
    return found


def ingest_mail(ledger: Ledger, store: Business, batch: Batch, codes: CodeBook) -> Ingested:
    """Mail-house events on mail sends; a return suppresses the address for mail only."""
    out = Ingested()
    parsed: list[tuple[int, MailEvent]] = _parsed(
        ledger, batch, lambda raw: parse_mail(raw, batch.now), out
    )
    resolved = _resolve(store, codes, [e.ref for _, e in parsed], "mail")
    events = []
    for (position, event), send in zip(parsed, resolved, strict=True):
        if send is None:
            _quarantine(ledger, batch, position, "no mail send with that send_id or code", out)
            continue
        detail = {"reason": event.reason} if event.reason else {}
        key = f"mail:{send}:{event.kind}"  # one per piece and status, whoever reports it
        events.append(
            NewEvent(key, batch.source, event.kind, event.occurred_at, send, detail=detail)
        )
    fresh = ledger.record(events, batch.now, batch.batch_id)
    returned = [r.event for r in fresh if r.event.kind == "returned"]
    refs = store.sends([e.send_id for e in returned if e.send_id is not None])
    profiles = store.profiles({ref.customer_id for ref in refs.values()})
    for event in returned:
        address = postal_address(profiles.get(refs[event.send_id or 0].customer_id, {}))
        if address:
            reason = "returned_mail"
            store.suppress("mail", "address", address, None, reason, batch.source, batch.now)
            out.suppressed += 1
    out.events = len(events)
    ledger.finish_batch(batch.batch_id, out.events, out.quarantined, batch.now)
    return out


def ingest_calls(
    ledger: Ledger,
    store: Business,
    batch: Batch,
    rules: Mapping[int, CampaignRule],
    codes: CodeBook,
    options: OrderOptions,
) -> Ingested:
    """Call dispositions: responses, and do-not-call / wrong-number suppressions at once."""
    out = Ingested()
    parsed: list[tuple[int, CallEvent]] = _parsed(
        ledger, batch, lambda raw: parse_call(raw, options), out
    )
    resolved = _resolve(store, codes, [e.ref for _, e in parsed], "call")
    events, items = [], []
    for (position, call), send in zip(parsed, resolved, strict=True):
        if send is None:
            _quarantine(ledger, batch, position, "no call send with that send_id or code", out)
            continue
        ref = call.event_id or f"{send}:{call.disposition}:{int(call.occurred_at.timestamp())}"
        detail = {"disposition": call.disposition, **({"note": call.note} if call.note else {})}
        events.append(
            NewEvent(
                f"calls:{ref}",
                batch.source,
                "call_disposition",
                call.occurred_at,
                send,
                detail=detail,
            )
        )
        items.append(
            Incoming(batch.source, ref, "call_disposition", call.occurred_at, send_id=send,
                     value_cents=call.value_cents, value=call.disposition,
                     code=call.ref.code, detail=detail)
        )  # fmt: skip
    fresh = ledger.record(events, batch.now, batch.batch_id)
    out.suppressed = _call_effects(store, [r.event for r in fresh], batch)
    out.responses = credit_responses(store, rules, codes, items, batch.now)
    out.events = len(events)
    ledger.finish_batch(batch.batch_id, out.events, out.quarantined, batch.now)
    return out


def _call_effects(store: Business, fresh: list[NewEvent], batch: Batch) -> int:
    """do_not_call: the phone suppressed for calls and call consent withdrawn;
    wrong_number: the phone suppressed for calls (it is not this customer's)."""
    acting = [e for e in fresh if e.detail.get("disposition") in ("do_not_call", "wrong_number")]
    refs = store.sends([e.send_id for e in acting if e.send_id is not None])
    profiles = store.profiles({r.customer_id for r in refs.values()})
    done = 0
    for event in acting:
        customer = refs[event.send_id or 0].customer_id
        phone = profiles.get(customer, {}).get("phone")
        disposition, now = str(event.detail["disposition"]), batch.now
        if disposition == "do_not_call":
            store.withdraw(customer, "call", batch.source, f"{event.key}: do_not_call", now)
        owner = customer if disposition == "do_not_call" else None
        if phone:
            store.suppress("call", "phone", str(phone), owner, disposition, batch.source, now)
            done += 1
        elif owner is not None:
            store.suppress("call", "customer", None, owner, disposition, batch.source, now)
            done += 1
    return done
