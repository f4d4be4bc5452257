"""Facts checked at send time for a claimed batch (ARCHITECTURE invariant 3).

Three small reads keyed by the batch's customer ids, each served by an
index on customer id: the latest consent per customer on the channel, the
suppressions that name the customer or one of its hashed addresses, and the
recent sends on the channel that a frequency cap counts. A STOP or an
unsubscribe recorded after launch is therefore seen by the next claim.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import aliased

from engine.core.sending.checks import Facts
from engine.db.models import Consent, Send, Suppression

# What a frequency cap counts at send time: messages that went (or may have).
WENT = ("sent", "unknown")


@dataclass(frozen=True)
class SqlSendChecks:
    engine: Engine

    def facts(
        self,
        channel: str,
        customers: Collection[int],
        tokens: Collection[str],
        since: datetime,
        exclude: Collection[int],
    ) -> Facts:
        """Consent, suppressions and recent sends of `customers` on `channel`."""
        ids = sorted(set(customers))
        with self.engine.connect() as conn:
            consent = dict(conn.execute(_latest_consent(channel, ids)).all())
            hits = conn.execute(_suppressions(channel, ids, sorted(set(tokens)))).all()
            recent = conn.execute(_recent(channel, ids, since, sorted(set(exclude)))).all()
        return Facts(
            consent={int(k): str(v) for k, v in consent.items()},
            suppressed_customers=frozenset(int(c) for c, _ in hits if c is not None),
            suppressed_tokens=frozenset(str(t) for _, t in hits if t is not None),
            recent=tuple((int(c), at) for c, at in recent),
        )


def _latest_consent(channel: str, ids: list[int]) -> Any:
    """(customer, status) of the newest consent row per customer on `channel`."""
    newer = aliased(Consent)
    later = select(newer.id).where(
        newer.customer_id == Consent.customer_id,
        newer.channel == Consent.channel,
        newer.id > Consent.id,
    )
    return select(Consent.customer_id, Consent.status).where(
        Consent.customer_id.in_(ids), Consent.channel == channel, ~later.exists()
    )


def _suppressions(channel: str, ids: list[int], tokens: list[str]) -> Any:
    """Suppressions on the channel (or all channels) naming a customer or a token."""
    target = Suppression.customer_id.in_(ids)
    if tokens:
        target = target | Suppression.token_hash.in_(tokens)
    return select(Suppression.customer_id, Suppression.token_hash).where(
        Suppression.channel.in_((channel, "all")), target
    )


def _recent(channel: str, ids: list[int], since: datetime, exclude: list[int]) -> Any:
    """(customer, due) of sends that went on the channel since `since` (ix_sends_customer_channel)."""
    query = select(Send.customer_id, Send.due_at).where(
        Send.customer_id.in_(ids),
        Send.channel == channel,
        Send.due_at > since,
        Send.state.in_(WENT),
    )
    return query.where(Send.id.not_in(exclude)) if exclude else query
