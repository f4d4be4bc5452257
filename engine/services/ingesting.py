"""Use cases of provider callbacks: the ports they use, and SendGrid's Event Webhook.

Twilio's status callbacks and inbound texts are in `engine.services.ingesting_sms`.

The web layer has verified the signature; each use case stores the raw
body first (its own commit: an accepted callback is never lost), then
processes it in one unit of work: events enter the ledger once per key and
only the newly recorded ones change consent, suppressions, responses and
campaigns, so a replayed batch changes nothing. An item that cannot be
understood is quarantined with its position and reason; the rest applies.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson

from engine.core.sending.due import SuppressionKind
from engine.core.tracking.events import NewEvent
from engine.core.tracking.sendgrid_events import (
    SOURCE as SENDGRID,
)
from engine.core.tracking.sendgrid_events import (
    SUPPRESSES,
    WITHDRAWS,
    SendGridEvent,
    Unusable,
    complaint_pause,
    parse_event,
)


class Recorded(Protocol):
    @property
    def event(self) -> NewEvent: ...
    @property
    def campaign_id(self) -> int | None: ...
    @property
    def customer_id(self) -> int | None: ...


class SendFacts(Protocol):
    @property
    def state(self) -> str: ...
    @property
    def customer_id(self) -> int: ...
    @property
    def campaign_id(self) -> int: ...


class SmsContact(Protocol):
    @property
    def send_id(self) -> int: ...
    @property
    def contact_id(self) -> int: ...
    @property
    def campaign_id(self) -> int: ...
    @property
    def customer_id(self) -> int: ...


class EventUnit(Protocol):
    """One transaction of the event store (`engine.db.provider_events.ProviderUnit`)."""

    def record(
        self,
        events: Sequence[NewEvent],
        now: datetime,
        batch_id: int | None,
        batch_ids: Sequence[int] | None = None,
    ) -> Sequence[Recorded]: ...
    def quarantine(
        self, batch_id: int, source: str, position: int, reason: str, raw: str, now: datetime
    ) -> None: ...
    def finish_batch(self, batch_id: int, events: int, quarantined: int, now: datetime) -> None: ...
    def sends(self, ids: Collection[int], channel: str) -> Mapping[int, SendFacts]: ...
    def sends_by_message(
        self, pairs: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], int]: ...
    def email_sends_to(self, emails: Collection[str]) -> dict[str, list[tuple[datetime, int]]]: ...
    def sms_sends_by_sid(self, sids: Collection[str]) -> dict[str, int]: ...
    def reconcile(self, sightings: Iterable[tuple[int, str | None]], now: datetime) -> int: ...
    def customers_with(self, field: str, values: Collection[str]) -> dict[str, list[int]]: ...
    def set_consent(
        self, customers: Iterable[int], channel: str, status: str, evidence: str, now: datetime
    ) -> bool: ...
    def set_consents(
        self, evidence: Mapping[int, str], channel: str, status: str, now: datetime
    ) -> bool: ...
    def suppress(
        self,
        channel: str,
        kind: SuppressionKind,
        value: str,
        customer_id: int | None,
        reason: str,
        source: str,
        now: datetime,
    ) -> bool: ...
    def suppress_all(
        self,
        channel: str,
        kind: SuppressionKind,
        values: Mapping[str, int | None],
        reason: str,
        source: str,
        now: datetime,
    ) -> int: ...
    def lift(self, channel: str, kind: SuppressionKind, value: str, reason: str) -> int: ...
    def opted_out(
        self,
        customers: Collection[int],
        channel: str,
        kind: SuppressionKind,
        value: str,
        reason: str,
    ) -> bool: ...
    def latest_sms(self, customers: Collection[int]) -> SmsContact | None: ...
    def responses(self, rows: list[dict[str, Any]]) -> list[int]: ...
    def alert(
        self, campaign_id: int | None, send_id: int | None, kind: str, text: str, now: datetime
    ) -> None: ...
    def complaint_counts(self, campaigns: Collection[int]) -> dict[int, tuple[int, int]]: ...
    def pause(self, campaign_id: int, reason: str, now: datetime) -> str: ...


class EventStore(Protocol):
    def store_batch(
        self, source: str, body: str, headers: dict[str, str], now: datetime
    ) -> int: ...
    def unit(self) -> AbstractContextManager[EventUnit]: ...
    def stored(
        self, source: str, body: str, headers: dict[str, str], now: datetime, expect: int = 1
    ) -> AbstractContextManager[tuple[int, EventUnit]]: ...


@dataclass(frozen=True, slots=True)
class Ingested:
    """What a batch did: `events` newly recorded (0 on a replay), `quarantined`, campaigns `paused`."""

    batch_id: int
    events: int
    quarantined: int
    reconciled: int = 0
    paused: tuple[tuple[int, str], ...] = ()
    usable: bool = True  # False: the body itself could not be read (answer 400)


def ingest_sendgrid(
    store: EventStore, body: str, headers: dict[str, str], prefix: str, now: datetime
) -> Ingested:
    """Store and apply a verified Event Webhook batch (`prefix`: our custom-args prefix)."""
    batch_id = store.store_batch(SENDGRID, body, headers, now)
    items = _decode(body)
    with store.unit() as unit:
        if not isinstance(items, list):
            unit.quarantine(batch_id, SENDGRID, -1, "body is not a JSON array", body, now)
            unit.finish_batch(batch_id, 0, 1, now)
            return Ingested(batch_id, 0, 1, usable=False)
        events: list[SendGridEvent] = []
        for position, item in enumerate(items):
            parsed = parse_event(item, prefix)
            if isinstance(parsed, Unusable):
                raw = json.dumps(item, default=str)
                unit.quarantine(batch_id, SENDGRID, position, parsed.reason, raw, now)
            else:
                events.append(parsed)
        quarantined = len(items) - len(events)
        joined, proven = _join_email(unit, events)
        fresh = unit.record(
            [e.new_event(joined.get(i)) for i, e in enumerate(events)], now, batch_id
        )
        by_key = {e.key: e for e in events}
        sightings = [
            (r.event.send_id, by_key[r.event.key].message_id)
            for r in fresh
            if r.event.send_id in proven
        ]
        reconciled = unit.reconcile(sightings, now)
        paused = _email_effects(unit, fresh, by_key, now)
        unit.finish_batch(batch_id, len(fresh), quarantined, now)
    return Ingested(batch_id, len(fresh), quarantined, reconciled, tuple(paused))


# The kinds with an effect beyond the ledger (none is both).
_ACTING = SUPPRESSES | WITHDRAWS


def _decode(body: str) -> Any:
    """The JSON value of `body` (None: not JSON). orjson first, for speed; what it
    refuses and the standard library reads (NaN, integers past 64 bits) still reads."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except ValueError:
        return None


def _join_email(unit: EventUnit, events: list[SendGridEvent]) -> tuple[dict[int, int], set[int]]:
    """(event index -> send id, ids of waiting sends the provider proved it accepted).

    Our custom arg first; else the request's X-Message-Id with the address;
    else (asynchronous bounces carry neither) the latest e-mail send to the
    address before the event, which is a guess and proves nothing.
    """
    refs = unit.sends({e.send_id for e in events if e.send_id is not None}, "email")
    joined = {i: e.send_id for i, e in enumerate(events) if e.send_id in refs}
    # Only a send still waiting for the provider's word can be reconciled.
    waiting = {sid for sid, ref in refs.items() if ref.state in ("unknown", "sending")}
    rest = [i for i, e in enumerate(events) if i not in joined and e.email]
    by_message = unit.sends_by_message(
        {(m, e.email) for i in rest for e in [events[i]] for m in [e.message_id] if m and e.email}
    )
    for i in rest:
        event = events[i]
        if event.message_id and (event.message_id, event.email or "") in by_message:
            joined[i] = by_message[(event.message_id, event.email or "")]
    by_message_ids = {joined[i] for i in rest if i in joined}
    waiting |= {
        sid
        for sid, ref in unit.sends(by_message_ids, "email").items()
        if ref.state in ("unknown", "sending")
    }
    proven = waiting
    orphans = [i for i in rest if i not in joined and events[i].message_id is None]
    history = unit.email_sends_to({events[i].email or "" for i in orphans})
    for i in orphans:
        event = events[i]
        before = [sid for at, sid in history.get(event.email or "", []) if at <= event.occurred_at]
        if before:
            joined[i] = before[-1]
    return joined, proven


def _email_effects(
    unit: EventUnit, fresh: Sequence[Recorded], by_key: dict[str, SendGridEvent], now: datetime
) -> list[tuple[int, str]]:
    """Suppress hard-bounced addresses, withdraw consent on unsubscribes and spam reports.

    Set-based: every bounced address of the batch in one suppression write
    (the first bounce of an address names its customer), every withdrawing
    customer in one consent write (the first event's key is the evidence).
    """
    acting = [(r, e) for r in fresh for e in [by_key[r.event.key]] if e.kind in _ACTING]
    bounced: dict[str, int | None] = {}
    withdrawing = [(r, e) for r, e in acting if e.kind in WITHDRAWS]
    owners = unit.customers_with("email", sorted({e.email for _, e in withdrawing if e.email}))
    evidence: dict[int, str] = {}
    complained: set[int] = set()
    for r, event in acting:
        if event.kind in SUPPRESSES:
            if event.email:
                bounced.setdefault(event.email, r.customer_id)
            continue
        customers = set(owners.get(event.email or "", []))
        customers |= {r.customer_id} if r.customer_id is not None else set()
        for customer in sorted(customers):
            evidence.setdefault(customer, f"{SENDGRID} {event.kind}: {event.key}")
        if event.kind == "complained" and r.campaign_id is not None:
            complained.add(r.campaign_id)
    if bounced:
        unit.suppress_all("email", "email", bounced, "hard_bounce", SENDGRID, now)
    if evidence:
        unit.set_consents(evidence, "email", "withdrawn", now)
    paused = []
    for campaign_id, (complaints, sent) in unit.complaint_counts(complained).items():
        reason = complaint_pause(complaints, sent)
        if reason and unit.pause(campaign_id, reason, now):
            paused.append((campaign_id, reason))
    return paused
