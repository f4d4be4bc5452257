"""The event vocabulary, and the one rule that orders delivery statuses.

Providers report out of order and more than once. Every event is kept in
the ledger (once per event key); a send's `delivery` column only moves to a
status of higher rank, so a late ``delivered`` never overwrites a bounce,
and a failure is never erased by a later success.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

# Kinds of event in the ledger, by who reports them.
EMAIL_KINDS: Final = (
    "processed",  # SendGrid accepted it for delivery (carries our custom args)
    "deferred",  # temporary failure; SendGrid retries: never a suppression
    "delivered",
    "dropped",  # SendGrid will not send it (reason given)
    "bounced",  # hard bounce: the address is invalid
    "blocked",  # soft/block bounce: the receiver refused now; not a bad address
    "opened",
    "clicked",
    "complained",  # spamreport: counts as an unsubscribe
    "unsubscribed",
    "group_unsubscribed",
    "group_resubscribed",
)
SMS_KINDS: Final = (
    "sms_sent",
    "delivered",
    "undelivered",
    "failed",
    "read",
    "replied",  # inbound: any other text
    "unsubscribed",  # inbound: STOP and free-text revocations
    "resubscribed",  # inbound: START, UNSTOP (YES while opted out)
    "help",  # inbound: HELP, INFO
)
MAIL_KINDS: Final = ("in_transit", "delivered", "rerouted", "returned")
CALL_KINDS: Final = ("call_disposition",)

# Delivery statuses a send can have, by rank; equal ranks do not replace each other.
DELIVERY_RANK: Final[dict[str, int]] = {
    "processed": 1,
    "sms_sent": 1,
    "in_transit": 1,
    "deferred": 2,
    "rerouted": 2,
    "delivered": 3,
    "read": 3,
    "blocked": 4,
    "bounced": 5,
    "dropped": 5,
    "undelivered": 5,
    "failed": 5,
    "returned": 5,
}


def advances(current: str | None, new: str) -> bool:
    """True when `new` may replace `current` as a send's delivery status."""
    if new not in DELIVERY_RANK:
        return False
    return current is None or DELIVERY_RANK[new] > DELIVERY_RANK.get(current, 0)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event about to enter the ledger (see `engine.db.ledger`).

    `key` is unique over all sources (``sendgrid:<sg_event_id>``,
    ``twilio:<MessageSid>:<status>``, ``open:<send id>:<unix minute>``):
    recording the same key twice records it once. `send_id` joins it to a
    send (its campaign and customer follow); `customer_id` is for events
    that name a customer but no send (an unsubscribe page, an inbound SMS).
    """

    key: str
    source: str
    kind: str
    occurred_at: datetime
    send_id: int | None = None
    customer_id: int | None = None
    machine: bool = False
    url: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        if len(self.key) > 200:
            raise ValueError("an event key is at most 200 characters")
