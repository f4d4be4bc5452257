"""Use case of Twilio's message status callbacks: kept at once, applied in bulk.

A status callback is one event about one message, and they come by the
thousand per second. Processing each in its own transaction cost about
nine database round trips per request. So the request only *keeps* the
callback (`accept_status`: the raw form and the path and query it was
posted to, ONE autocommitted statement, durable before the 2xx) and
`apply_statuses` applies kept callbacks a few hundred at a time in one
transaction: one read of their sends, one event insert, one send update.

Who applies: the web process shortly after a callback arrives
(`engine.web.applier`, ``webhooks.twilio_status_delay_ms``) and the
scheduler's ``callbacks`` tick, the safety net for a web process that
stopped in between. Both claim disjoint callbacks. Until applied, a send
shows its previous delivery status; nothing about sending waits for it
(opt-outs come as inbound texts, which are applied in the request).

Replays change nothing (events are unique per MessageSid and status), and
the order in which callbacks are applied does not matter: a send's status
only moves up in rank, so a failure is never erased by a later success.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from engine.core.tracking.sendgrid_events import Unusable
from engine.core.tracking.twilio_events import SOURCE as TWILIO
from engine.core.tracking.twilio_events import (
    StatusCallback,
    first_values,
    form_pairs,
    parse_status,
)
from engine.services.ingesting import EventStore, EventUnit, Ingested

KIND = "twilio_status"  # the `source` of kept status callbacks in webhook_batches
PATH = ":path"  # kept with the headers: the path and query the callback was posted to
IDEMPOTENCY = "I-Twilio-Idempotency-Token"
BATCH = 500  # callbacks per transaction


class KeptCallback(Protocol):
    @property
    def batch_id(self) -> int: ...
    @property
    def body(self) -> str: ...
    @property
    def headers(self) -> dict[str, str]: ...
    @property
    def received_at(self) -> datetime: ...


class StatusStore(EventStore, Protocol):
    def keep(self, source: str, body: str, headers: dict[str, str], now: datetime) -> int: ...
    def claimed(
        self, source: str, limit: int, now: datetime, before: datetime | None = None
    ) -> AbstractContextManager[tuple[Sequence[KeptCallback], StatusUnit]]: ...


class StatusUnit(EventUnit, Protocol):
    def count_events(self, events: Mapping[int, int]) -> None: ...


@dataclass(frozen=True, slots=True)
class Applied:
    """What one transaction applied: `callbacks` claimed, `events` new, sends `reconciled`."""

    callbacks: int
    events: int
    reconciled: int


def accept_status(
    store: StatusStore,
    body: str,
    params: Mapping[str, str],
    path: str,
    headers: dict[str, str],
    now: datetime,
) -> Ingested:
    """Keep a verified status callback for `apply_statuses` (`path`: with its query).

    A callback that is not a status at all is stored and quarantined in
    the request, so the caller can answer 400.
    """
    parsed = parse_status(params, _send_of(path), headers.get(IDEMPOTENCY), now)
    if isinstance(parsed, Unusable):
        with store.stored(KIND, body, headers, now) as (batch_id, unit):
            unit.quarantine(batch_id, TWILIO, 0, parsed.reason, body, now)
            unit.finish_batch(batch_id, 0, 1, now)
        return Ingested(batch_id, 0, 1, usable=False)
    return Ingested(store.keep(KIND, body, {**headers, PATH: path}, now), 0, 0)


def apply_statuses(store: StatusStore, now: datetime, limit: int = BATCH) -> Applied:
    """Apply up to `limit` kept status callbacks, oldest first, in one transaction.

    Every callback proves Twilio took the message: an `unknown` send
    becomes `sent` with the MessageSid. A failure's ErrorCode means what it
    means at create time (`twilio_outcome`): suppress the phone, withdraw
    consent, or alert an operator. An event occurred when its callback was
    received, not when it is applied.
    """
    with store.claimed(KIND, limit, now) as (kept, unit):
        callbacks: list[tuple[int, StatusCallback]] = []
        for item in kept:
            parsed = _parse(item)
            if isinstance(parsed, Unusable):  # kept only once parsed: a row edited since
                unit.quarantine(item.batch_id, TWILIO, 0, parsed.reason, item.body, now)
                unit.finish_batch(item.batch_id, 0, 1, now)
            else:
                callbacks.append((item.batch_id, parsed))
        joined = _join(unit, [callback for _, callback in callbacks])
        fresh = unit.record(
            [c.new_event(joined.get(c.message_sid)) for _, c in callbacks],
            now,
            None,
            [batch_id for batch_id, _ in callbacks],
        )
        new = {r.event.key for r in fresh}
        owner: dict[str, int] = {}  # a key's event belongs to the first callback that had it
        for batch_id, callback in callbacks:
            owner.setdefault(callback.key, batch_id)
        unit.count_events(Counter(owner[key] for key in new))
        reconciled = _effects(unit, [c for _, c in callbacks if c.key in new], joined, now)
    return Applied(len(kept), len(fresh), reconciled)


def drain_statuses(store: StatusStore, now: datetime) -> int:
    """Apply every kept status callback; how many were applied."""
    total = 0
    while applied := apply_statuses(store, now).callbacks:
        total += applied
    return total


def _parse(item: KeptCallback) -> StatusCallback | Unusable:
    params = first_values(form_pairs(item.body))
    path = item.headers.get(PATH, "")
    return parse_status(params, _send_of(path), item.headers.get(IDEMPOTENCY), item.received_at)


def _send_of(path: str) -> str | None:
    """The ``send`` value of the callback URL's query (the first, as Flask's args)."""
    _, _, query = path.partition("?")
    return first_values(form_pairs(query)).get("send")


def _join(unit: EventUnit, callbacks: list[StatusCallback]) -> dict[str, int]:
    """MessageSid -> our SMS send: by the URL's ``send``, else by the MessageSid."""
    refs = unit.sends({c.send_id for c in callbacks if c.send_id is not None}, "sms")
    joined = {c.message_sid: c.send_id for c in callbacks if c.send_id in refs}
    lost = {c.message_sid for c in callbacks if c.message_sid not in joined}
    found = unit.sms_sends_by_sid(lost) if lost else {}
    real = unit.sends(set(found.values()), "sms")
    joined |= {sid: send_id for sid, send_id in found.items() if send_id in real}
    return {sid: send_id for sid, send_id in joined.items() if send_id is not None}


def _effects(
    unit: EventUnit, fresh: list[StatusCallback], joined: Mapping[str, int], now: datetime
) -> int:
    """Reconcile waiting sends; apply what failures' error codes mean. Returns sends reconciled."""
    refs = unit.sends(set(joined.values()), "sms")
    waiting = {
        joined[c.message_sid]: c.message_sid
        for c in fresh
        if c.message_sid in joined and refs[joined[c.message_sid]].state in ("unknown", "sending")
    }
    reconciled = unit.reconcile(sorted(waiting.items()), now) if waiting else 0
    for callback in fresh:
        send_id = joined.get(callback.message_sid)
        outcome = callback.outcome(send_id) if send_id is not None else None
        if send_id is None or outcome is None:
            continue
        ref = refs[send_id]
        why = outcome.error or outcome.kind
        if outcome.suppress and callback.to:
            unit.suppress("sms", "phone", callback.to, ref.customer_id, why, TWILIO, now)
        if outcome.opt_out:
            unit.set_consent([ref.customer_id], "sms", "withdrawn", f"send {send_id}: {why}", now)
        if outcome.alert:
            unit.alert(ref.campaign_id, send_id, "sms", outcome.alert, now)
    return reconciled
