"""What a SendGrid Event Webhook event means: parsing, joining keys, effects, complaint guard.

Pure: the web layer verified the signature and the service hands in the
decoded JSON items one by one. An item that cannot be understood comes back
as an `Unusable` with the reason (it is quarantined, the rest of the batch
is applied).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from engine.core.tracking.events import NewEvent

SOURCE: Final = "sendgrid"
# SendGrid's `event` -> our event kind (bounce is split by its `type`).
KINDS: Final[Mapping[str, str]] = {
    "processed": "processed",
    "deferred": "deferred",
    "delivered": "delivered",
    "dropped": "dropped",
    "open": "opened",
    "click": "clicked",
    "spamreport": "complained",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "group_unsubscribed",
    "group_resubscribe": "group_resubscribed",
}
# bounce `type`: "bounce" is a hard bounce (bad address), "blocked" a refusal
# by the receiving server now (content, reputation): not a bad address.
BOUNCE_TYPES: Final[Mapping[str, str]] = {"bounce": "bounced", "blocked": "blocked"}
# Kinds that withdraw e-mail consent: a spam report counts as an unsubscribe.
WITHDRAWS: Final = frozenset({"complained", "unsubscribed", "group_unsubscribed"})
# Kinds that suppress the address itself: only a hard bounce (deferred never does).
SUPPRESSES: Final = frozenset({"bounced"})
# Fields worth keeping with the event (no e-mail, no IP: the raw batch has them).
DETAIL_FIELDS: Final = (
    "reason",
    "status",
    "response",
    "attempt",
    "type",
    "bounce_classification",
    "asm_group_id",
    "sg_message_id",
    "useragent",
)
# Unix seconds SendGrid could send: 2009 (SendGrid's start) to 2100.
_EARLIEST, _LATEST = 1_230_000_000, 4_102_444_800
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # what JSON writers (orjson) take
_PLAIN: Final = frozenset({str, float, bool, type(None)})
_ABSENT: Final = object()

# Complaint guard (PROVIDERS.md: stop a campaign when complaints near 0.1%).
COMPLAINT_RATE: Final = 0.001
# Below this many sent e-mails one complaint is 0.2%+ by chance alone: the
# rate is not judged (complaints still withdraw consent one by one).
COMPLAINT_MIN_SENT: Final = 1000


@dataclass(frozen=True, slots=True)
class SendGridEvent:
    """One understood event; `send_id` is our custom arg, `message_id` the X-Message-Id."""

    event_id: str
    kind: str
    occurred_at: datetime
    email: str | None
    send_id: int | None = None
    message_id: str | None = None
    machine: bool = False
    url: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{SOURCE}:{self.event_id}"

    def new_event(self, send_id: int | None, customer_id: int | None = None) -> NewEvent:
        """The ledger entry for this event, joined to `send_id` (None: no send found)."""
        return NewEvent(
            self.key,
            SOURCE,
            self.kind,
            self.occurred_at,
            send_id=send_id,
            customer_id=customer_id,
            machine=self.machine,
            url=self.url,
            detail=self.detail,
        )


@dataclass(frozen=True, slots=True)
class Unusable:
    """An item of a batch that cannot be applied, and why."""

    reason: str


def parse_event(item: object, prefix: str) -> SendGridEvent | Unusable:
    """Return the event an Event Webhook item describes, or why it cannot be used.

    `prefix` is our custom-args prefix (``ce_``): ``<prefix>send_id`` names
    the send. Unusable: not an object, no ``sg_event_id``, an unknown event
    or bounce type, a missing or impossible timestamp.
    """
    if not isinstance(item, dict):
        return Unusable(f"not an event object: {type(item).__name__}")
    event_id = item.get("sg_event_id")
    if not isinstance(event_id, str) or len(event_id) > 180 or not (stripped := event_id.strip()):
        return Unusable("no usable sg_event_id")
    kind = _kind(item)
    if isinstance(kind, Unusable):
        return kind
    occurred_at = _time(item.get("timestamp"))
    if occurred_at is None:
        return Unusable(f"bad timestamp: {item.get('timestamp')!r}")
    email = item.get("email")
    url = item.get("url")
    # Positional, in field order: a thousand of these per batch.
    return SendGridEvent(
        stripped,
        kind,
        occurred_at,
        email.strip().lower() if isinstance(email, str) and "@" in email else None,
        _send_id(item.get(prefix + "send_id")),
        message_id(item.get("sg_message_id")),
        item.get("sg_machine_open") is True,
        url if kind == "clicked" and isinstance(url, str) else None,
        {k: v for k in DETAIL_FIELDS if (v := item.get(k, _ABSENT)) is not _ABSENT and _scalar(v)},
    )


def message_id(sg_message_id: object) -> str | None:
    """The X-Message-Id of the Mail Send request: the part of sg_message_id before its first dot."""
    if not isinstance(sg_message_id, str) or not sg_message_id:
        return None
    return sg_message_id.split(".", 1)[0] or None


def complaint_pause(complaints: int, sent: int) -> str | None:
    """The reason to pause a campaign with these counts, or None while it may go on.

    Judged once `COMPLAINT_MIN_SENT` e-mails went: paused when complaints
    reach `COMPLAINT_RATE` (0.1%) of the sent e-mails.
    """
    if sent < COMPLAINT_MIN_SENT or complaints < COMPLAINT_RATE * sent:
        return None
    return (
        f"spam complaints at {complaints / sent:.2%} of {sent} sent e-mails "
        f"({complaints}); the limit is {COMPLAINT_RATE:.1%}"
    )


def _kind(item: Mapping[str, Any]) -> str | Unusable:
    event = item.get("event")
    if event == "bounce":
        bounce_type = item.get("type", "bounce")  # older payloads had no type: a hard bounce
        if bounce_type not in BOUNCE_TYPES:
            return Unusable(f"unknown bounce type: {bounce_type!r}")
        return BOUNCE_TYPES[str(bounce_type)]
    if not isinstance(event, str) or event not in KINDS:
        return Unusable(f"unknown event type: {event!r}")
    return KINDS[event]


def _time(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not _EARLIEST <= value <= _LATEST:
        return None
    return datetime.fromtimestamp(value, tz=UTC)


def _send_id(value: object) -> int | None:
    # Custom args are strings; anything else is not ours.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def _scalar(value: object) -> bool:
    # JSON decoders build exactly these types. An integer past 64 bits is no
    # field SendGrid sends (and JSON writers refuse it); the raw batch keeps it.
    return type(value) in _PLAIN or (type(value) is int and _INT_MIN <= value <= _INT_MAX)
