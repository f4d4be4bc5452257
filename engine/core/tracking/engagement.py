"""What our own tracking endpoints decide: machine opens, event keys, masked addresses.

The open pixel, the click redirect and the unsubscribe page record events
in the ledger like any provider does. Their keys are deterministic, so a
refresh storm, a mail client fetching the pixel twice or a person pressing
"unsubscribe" three times records one event:

- an open: ``open:<send>:<unix minute>`` (``:m`` appended for a machine
  open, so a scanner's fetch never hides a person's open in the same
  minute): at most two open events per send and minute;
- a click: ``click:<send>:<link>:<unix minute>`` (``:m`` likewise);
- the open a human click implies: ``open:<send>:click``, once per send;
- an unsubscribe: ``unsubscribe:<send>``, once per send.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from engine.core.tracking.events import NewEvent

SOURCE: Final = "engine"  # events.source of what our own endpoints record

# A fetch this soon after we handed the message over is a machine: delivery
# itself takes seconds, and gateway scanners fetch on arrival.
MACHINE_WINDOW: Final = timedelta(seconds=10)

# Apple Mail Privacy Protection loads every image of every new message
# through Apple's relays when the message arrives, and those relays send the
# bare user agent "Mozilla/5.0" (no platform, no engine): an open that says
# nothing about a person.
APPLE_MPP_AGENT: Final = "Mozilla/5.0"

# Security gateways and link scanners that fetch every URL of a message,
# plus generic robots and HTTP libraries. Matched case-insensitively.
_SCANNER: Final = re.compile(
    r"bot\b|crawler|spider|scanner|headless|phantomjs"
    r"|barracuda|mimecast|proofpoint|symantec|messagelabs|forcepoint|fortiguard"
    r"|trendmicro|trend micro|sophos|ironport"
    r"|python-requests|python-urllib|aiohttp|httpx|curl/|wget/|go-http-client|java/"
    r"|okhttp|libwww|node-fetch|axios/",
    re.IGNORECASE,
)

# Image proxies that fetch when the person opens the message, on their
# behalf: Gmail ("...(via ggpht.com GoogleImageProxy)") and Yahoo Mail. They
# hide the reader's IP address and browser, not the open itself.
HUMAN_PROXIES: Final = ("GoogleImageProxy", "YahooMailProxy")

MachineReason = Literal["apple_mpp", "scanner", "no_user_agent", "head_request", "too_soon"]
Via = Literal["one-click", "form"]


@dataclass(frozen=True, slots=True)
class Hit:
    """One request to a tracking URL, as far as deciding about it goes."""

    at: datetime
    user_agent: str = ""
    head: bool = False  # a HEAD request: probes, never a mail client showing an image

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("a hit's time must be timezone-aware")


@dataclass(frozen=True, slots=True)
class Tracked:
    """The send a tracking token names, with what the endpoints need of it."""

    send_id: int
    customer_id: int
    channel: str
    sent_at: datetime | None
    opened: bool  # a human open is recorded already (sends.opened_at)


@dataclass(frozen=True, slots=True)
class Subscription:
    """What the unsubscribe page may show about the recipient of a send."""

    send_id: int
    customer_id: int
    channel: str
    masked_address: str  # "p•••@example.com": never the full address
    subscribed: bool  # False once the latest consent on `channel` is "withdrawn"


def machine_reason(hit: Hit, sent_at: datetime | None) -> MachineReason | None:
    """Why `hit` looks automated, or None when it looks like a person.

    In order: a HEAD request; no user agent; Apple's privacy proxy (the bare
    ``Mozilla/5.0``); a known scanner, robot or HTTP library (the Gmail and
    Yahoo image proxies are people); any request within `MACHINE_WINDOW`
    of the send's `sent_at` (unknown `sent_at`: not judged by time).
    """
    agent = hit.user_agent.strip()
    if hit.head:
        return "head_request"
    if not agent:
        return "no_user_agent"
    if agent == APPLE_MPP_AGENT:
        return "apple_mpp"
    if _SCANNER.search(agent) and not any(proxy in agent for proxy in HUMAN_PROXIES):
        return "scanner"
    if sent_at is not None and hit.at - sent_at < MACHINE_WINDOW:
        return "too_soon"
    return None


def open_event(send: Tracked, hit: Hit) -> NewEvent:
    """The ``opened`` event of a pixel fetch (see the module docstring for its key)."""
    return _per_minute("opened", f"open:{send.send_id}", send, hit)


def click_events(send: Tracked, link_id: int, url: str, hit: Hit) -> list[NewEvent]:
    """The ``clicked`` event of a redirect, and the ``opened`` a human click implies.

    A person who clicked has opened the message, even when the pixel was
    blocked: without a human open on record, a human click adds one (key
    ``open:<send>:click``, at the click's time). A machine click implies
    nothing.
    """
    prefix = f"click:{send.send_id}:{link_id}"
    click = _per_minute("clicked", prefix, send, hit, url, {"link_id": link_id})
    if click.machine or send.opened:
        return [click]
    implied = NewEvent(
        key=f"open:{send.send_id}:click",
        source=SOURCE,
        kind="opened",
        occurred_at=hit.at,
        send_id=send.send_id,
        detail={"implied_by": "click"},
    )
    return [click, implied]


def _per_minute(
    kind: str,
    prefix: str,
    send: Tracked,
    hit: Hit,
    url: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> NewEvent:
    """An event keyed ``<prefix>:<unix minute>``, ``:m`` appended when a machine's."""
    reason = machine_reason(hit, send.sent_at)
    return NewEvent(
        key=f"{prefix}:{int(hit.at.timestamp()) // 60}{':m' if reason else ''}",
        source=SOURCE,
        kind=kind,
        occurred_at=hit.at,
        send_id=send.send_id,
        machine=reason is not None,
        url=url,
        detail={**(detail or {}), **({"machine": reason} if reason else {})},
    )


def unsubscribe_event(send_id: int, via: Via, now: datetime) -> NewEvent:
    """The ``unsubscribed`` event of the unsubscribe endpoint, once per send."""
    return NewEvent(
        key=f"unsubscribe:{send_id}",
        source=SOURCE,
        kind="unsubscribed",
        occurred_at=now,
        send_id=send_id,
        detail={"via": via},
    )


def unsubscribe_evidence(send_id: int, via: Via) -> str:
    """The consent ledger's evidence for an unsubscribe: ``send <id> one-click|form``."""
    return f"send {send_id} {via}"


def mask_address(address: str | None) -> str:
    """An e-mail address with its local part hidden: ``p•••@example.com`` ('' for none)."""
    if not address:
        return ""
    local, at, domain = address.strip().rpartition("@")
    if not at:
        return "•••"
    return f"{local[:1]}•••@{domain}"
