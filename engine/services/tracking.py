"""Use cases of our own tracking endpoints: an open, a click, an unsubscribe.

The web layer verifies the signed token and passes the ids it carries;
what an event means is decided in `engine.core.tracking.engagement`, and
the store (`engine.db.engagement.SqlEngagement`) records it once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from engine.core.tracking.engagement import (
    Hit,
    Subscription,
    Tracked,
    Via,
    click_events,
    open_event,
    unsubscribe_event,
    unsubscribe_evidence,
)
from engine.core.tracking.events import NewEvent

_REDIRECTABLE = ("http://", "https://")


class EngagementStore(Protocol):
    def record_for(
        self, send_id: int, events_of: Callable[[Tracked], Sequence[NewEvent]], now: datetime
    ) -> int | None: ...
    def destination(self, link_id: int) -> str | None: ...
    def subscription(self, send_id: int) -> Subscription | None: ...
    def unsubscribe(
        self, send: Subscription, event: NewEvent, evidence: str, now: datetime
    ) -> bool: ...


def record_open(store: EngagementStore, send_id: int, hit: Hit) -> bool:
    """Record the open of a pixel fetch; True when it is a new event (False: unknown send too)."""
    return bool(store.record_for(send_id, lambda send: [open_event(send, hit)], hit.at))


def follow_click(store: EngagementStore, send_id: int, link_id: int, hit: Hit) -> str | None:
    """The destination of a click, recorded with the open it implies; None for an unknown link.

    The destination comes only from our table of tracked links, and only an
    http(s) URL is followed: the endpoint never redirects anywhere else.
    """
    url = store.destination(link_id)
    if url is None or not url.lower().startswith(_REDIRECTABLE):
        return None
    store.record_for(send_id, lambda send: click_events(send, link_id, url, hit), hit.at)
    return url


def subscription(store: EngagementStore, send_id: int) -> Subscription | None:
    """What the unsubscribe page shows for a send (None: no such send). Changes nothing."""
    return store.subscription(send_id)


def unsubscribe(
    store: EngagementStore, send_id: int, via: Via, now: datetime
) -> Subscription | None:
    """Withdraw the recipient's consent on the send's channel; None for an unknown send.

    Idempotent: the consent ledger is written only when its latest word is
    not already "withdrawn", and the ``unsubscribed`` event once per send.
    Returns the subscription as it is now (unsubscribed).
    """
    found = store.subscription(send_id)
    if found is None:
        return None
    event = unsubscribe_event(send_id, via, now)
    store.unsubscribe(found, event, unsubscribe_evidence(send_id, via), now)
    return replace(found, subscribed=False)
