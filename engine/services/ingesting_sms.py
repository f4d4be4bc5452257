"""Use case of Twilio's inbound texts (status callbacks: `engine.services.ingesting_status`).

Same shape as the SendGrid use case (`engine.services.ingesting`), in ONE
transaction per text: the raw body is stored and what is new applied
together, committed before the answer (`EventStore.stored`: if processing
fails, the body is still stored on its own). A STOP takes effect before
Twilio hears back, and the answer may carry the one confirmation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.core.tracking.events import NewEvent
from engine.core.tracking.replies import Intent, classify, confirmation
from engine.core.tracking.sendgrid_events import Unusable
from engine.core.tracking.twilio_events import SOURCE as TWILIO
from engine.core.tracking.twilio_events import (
    InboundMessage,
    first_values,
    form_pairs,
    parse_inbound,
)
from engine.services.ingesting import EventStore, EventUnit, Ingested, SmsContact
from engine.services.ingesting_status import BATCH, StatusStore

# Inbound texts in the ledger, by what they ask for.
INBOUND = "twilio_inbound"  # the `source` of stored inbound texts in webhook_batches
RETRY_AFTER = timedelta(minutes=1)  # a stored text not applied this long after: it failed
INBOUND_KINDS: dict[Intent, str] = {
    "stop": "unsubscribed",
    "start": "resubscribed",
    "help": "help",
    "rating": "replied",
    "reply": "replied",
}
STOP_REASON = "sms_stop"  # the suppression a STOP writes and a START lifts


@dataclass(frozen=True, slots=True)
class ReplyTexts:
    """What the confirmations and the HELP answer say (from the sender settings)."""

    sender: str
    opt_out_hint: str
    help_contact: str


@dataclass(frozen=True, slots=True)
class InboundResult:
    """An inbound text's outcome: the one message to answer with (None: answer nothing)."""

    ingested: Ingested
    intent: Intent | None = None
    answer: str | None = None


def ingest_twilio_inbound(
    store: EventStore,
    body: str,
    params: Mapping[str, str],
    headers: dict[str, str],
    texts: ReplyTexts,
    now: datetime,
) -> InboundResult:
    """Store and apply a verified inbound text; returns the one message to answer with.

    STOP (or any reasonable revocation, `engine.core.tracking.replies`)
    withdraws SMS consent for every customer with that phone and suppresses
    the phone (reason ``sms_stop``); START gives consent again and lifts
    that suppression (and only that one: a landline stays suppressed).
    Either is confirmed once, only when it changed something and Twilio has
    not confirmed it itself (``OptOutType`` set). Anything else is a
    ``reply`` response on the latest SMS to that phone.
    """
    message = parse_inbound(params, now)
    with store.stored(INBOUND, body, headers, now) as (batch_id, unit):
        return _inbound(unit, batch_id, body, message, texts, now, now)


def reapply_inbound(store: StatusStore, now: datetime, older: timedelta = RETRY_AFTER) -> int:
    """Apply inbound texts that were stored but not applied (processing failed in the
    request: Twilio does not send them again); returns how many.

    Only those received `older` ago or more: a text stored moments ago may
    still be on its way. Each takes effect as of when it was received; no
    confirmation goes out this late.
    """
    with store.claimed(INBOUND, BATCH, now, before=now - older) as (kept, unit):
        for item in kept:
            message = parse_inbound(first_values(form_pairs(item.body)), item.received_at)
            _inbound(unit, item.batch_id, item.body, message, None, item.received_at, now)
    return len(kept)


def _inbound(
    unit: EventUnit,
    batch_id: int,
    body: str,
    message: InboundMessage | Unusable,
    texts: ReplyTexts | None,
    at: datetime,
    now: datetime,
) -> InboundResult:
    """Apply one inbound text received `at`; the answer is computed only given `texts`."""
    if isinstance(message, Unusable):
        unit.quarantine(batch_id, TWILIO, 0, message.reason, body, now)
        unit.finish_batch(batch_id, 0, 1, now)
        return InboundResult(Ingested(batch_id, 0, 1, usable=False))
    phone = message.phone
    customers = unit.customers_with("phone", [phone]).get(phone, [])
    opted_out = unit.opted_out(customers, "sms", "phone", phone, STOP_REASON)
    reply = classify(message.body, opted_out, message.opt_out_type)
    contact = unit.latest_sms(customers)
    event = NewEvent(
        message.key,
        TWILIO,
        INBOUND_KINDS[reply.intent],
        at,
        send_id=contact.send_id if contact else None,
        customer_id=contact.customer_id if contact else (customers[0] if customers else None),
        detail={"intent": reply.intent, **({"rating": reply.rating} if reply.rating else {})},
    )
    fresh = unit.record([event], now, batch_id)
    answer = None
    if fresh:
        changed = _apply_inbound(unit, message.message_sid, phone, customers, reply.intent, at)
        if changed is None:
            _reply_response(
                unit, message.message_sid, message.body, reply.rating, contact, customers, at
            )
        elif changed and message.opt_out_type is None and texts is not None:
            answer = confirmation(
                reply.intent, texts.sender, texts.opt_out_hint, texts.help_contact
            )
    unit.finish_batch(batch_id, len(fresh), 0, now)
    return InboundResult(Ingested(batch_id, len(fresh), 0), reply.intent, answer)


def _apply_inbound(
    unit: EventUnit, sid: str, phone: str, customers: list[int], intent: Intent, now: datetime
) -> bool | None:
    """Apply a STOP, START or HELP: True when it changed something worth confirming.

    None for an ordinary reply or a rating (no keyword: it is a response).
    """
    evidence = f"inbound sms {sid}"
    if intent == "stop":
        withdrawn = unit.set_consent(customers, "sms", "withdrawn", f"{evidence}: STOP", now)
        suppressed = unit.suppress("sms", "phone", phone, None, STOP_REASON, TWILIO, now)
        return withdrawn or suppressed
    if intent == "start":
        granted = unit.set_consent(customers, "sms", "granted", f"{evidence}: START", now)
        return unit.lift("sms", "phone", phone, STOP_REASON) > 0 or granted
    if intent == "help":
        return True  # every HELP gets the answer (a replayed one is not fresh)
    return None


def _reply_response(
    unit: EventUnit,
    sid: str,
    text: str,
    rating: str | None,
    contact: SmsContact | None,
    customers: list[int],
    now: datetime,
) -> None:
    """A ``reply`` response credited to the latest SMS to that phone (direct), once per MessageSid."""
    unit.responses(
        [
            {
                "source": TWILIO,
                "source_ref": sid,
                "kind": "reply",
                "customer_id": contact.customer_id
                if contact
                else (customers[0] if customers else None),
                "contact_id": contact.contact_id if contact else None,
                "campaign_id": contact.campaign_id if contact else None,
                "send_id": contact.send_id if contact else None,
                "attribution": "direct" if contact else "none",
                "occurred_at": now,
                "recorded_at": now,
                "value": rating,
                "detail": {"text": text[:1600]},
            }
        ]
    )
