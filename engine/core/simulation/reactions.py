"""What a simulated recipient does with one message: seeded draws, no IO.

Every draw is a hash of (seed, send id, what is drawn), not a random
stream: the same seed on the same database gives the same reactions in any
order of evaluation, and one send's fate never shifts another's.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.core.simulation.model import CHANNEL_REACTIONS, Reaction, Reactions

LN2 = math.log(2)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A send of the simulated campaign that went out, with what callbacks need."""

    send_id: int
    contact_id: int
    step: str
    cell: str
    channel: str
    sent_at: datetime
    recipient: str | None  # e-mail or phone
    response_code: str | None
    customer_source: str | None  # the customer's source and id in it (shop purchases)
    customer_ref: str | None


@dataclass(frozen=True, slots=True)
class Planned:
    """A reaction to `message` that happens at `at`."""

    at: datetime
    kind: Reaction
    message: SentMessage


def draw(seed: int, send_id: int, what: str) -> float:
    """A uniform number in [0, 1) fixed by its three arguments."""
    digest = hashlib.blake2b(f"{seed}:{send_id}:{what}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def wait(median: timedelta, u: float) -> timedelta:
    """An exponential wait of median `median` at quantile `u` (0 for a zero median)."""
    return median * (-math.log1p(-u) / LN2)


def plan_reactions(message: SentMessage, reactions: Reactions, seed: int) -> list[Planned]:
    """The reactions to `message`, in time order (none when it is not delivered)."""
    able = CHANNEL_REACTIONS[message.channel]
    sid = message.send_id

    def happens(kind: Reaction) -> bool:
        chance = reactions.chance(kind)
        return kind in able and draw(seed, sid, kind) < float(chance.p)

    def after(start: datetime, kind: Reaction) -> datetime:
        return start + wait(reactions.chance(kind).delay, draw(seed, sid, kind + ":delay"))

    if happens("bounced"):
        return [Planned(after(message.sent_at, "bounced"), "bounced", message)]
    if not happens("delivered"):
        return []
    delivered = after(message.sent_at, "delivered")
    found = [Planned(delivered, "delivered", message)]
    if happens("opened"):
        opened = after(delivered, "opened")
        found.append(Planned(opened, "opened", message))
        if happens("clicked"):
            found.append(Planned(after(opened, "clicked"), "clicked", message))
    for kind in ("replied", "responded", "unsubscribed"):
        if happens(kind):
            found.append(Planned(after(delivered, kind), kind, message))
    return sorted(found, key=lambda p: p.at)
