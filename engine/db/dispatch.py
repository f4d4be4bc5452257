"""The outbox's state changes: claim, hand over, settle, defer, skip, reap.

Every change of a claimed send is guarded by ``claimed_by = worker`` and the
state it expects, so a worker whose lease expired (and whose sends another
pass has since reaped) cannot overwrite what happened meanwhile, except to
report the provider's acceptance, which is always the better knowledge.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, or_, select, update

from engine.core.sending.due import Due
from engine.core.sending.states import Settled
from engine.db.models import Campaign, Cell, Contact, Customer, CustomerMetrics, Send

_METRICS = [c for c in CustomerMetrics.__table__.c if c.name not in ("customer_id", "as_of")]
# (row key, field) of the customer and metrics columns in `_due_rows`.
_CUSTOMER_KEYS = [(f"c_{c.name}", c.name) for c in Customer.__table__.c]
_METRIC_KEYS = [(f"m_{c.name}", c.name) for c in _METRICS]


@dataclass(frozen=True)
class SqlDispatch:
    engine: Engine

    def claim(
        self, channel: str, now: datetime, limit: int, lease: timedelta, worker: str
    ) -> list[Due]:
        """Claim up to `limit` due sends of running campaigns, oldest due first.

        One UPDATE over a sub-select: on PostgreSQL the sub-select locks its
        rows FOR UPDATE SKIP LOCKED, so concurrent workers take disjoint
        batches without waiting for each other; SQLite has one writer at a
        time, which serialises claims by itself. ix_sends_due (state, due_at)
        serves the scan.
        """
        running = select(Campaign.id).where(Campaign.status == "running")
        due = (
            select(Send.id)
            .where(
                Send.state == "queued",
                Send.due_at <= now,
                Send.channel == channel,
                Send.campaign_id.in_(running),
            )
            # due_at alone, the order of ix_sends_due: with a tie-break on
            # id the planner sorts every queued send of the channel (a launch
            # gives them all one due_at) on every claim.
            .order_by(Send.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(Send)
            .where(Send.id.in_(due.scalar_subquery()))
            .values(
                state="sending",
                lease_expires_at=now + lease,
                claimed_by=worker,
                handed_at=None,
                updated_at=now,
            )
            .returning(Send.id)
        )
        with self.engine.begin() as conn:
            ids = sorted(conn.execute(claim).scalars())
            if not ids:
                return []
            rows = conn.execute(_due_rows(ids)).mappings().all()
        return [_due(row) for row in rows]

    def next_due(self) -> datetime | None:
        """The earliest due time of a queued send of a live campaign (ix_sends_due)."""
        live = select(Campaign.id).where(Campaign.status.in_(("running", "scheduled")))
        query = select(func.min(Send.due_at)).where(
            Send.state == "queued", Send.campaign_id.in_(live)
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def last_sent(self, campaign_key: str) -> datetime | None:
        """When the campaign's latest send went (the demo reports as of its window's end)."""
        query = (
            select(func.max(Send.sent_at))
            .join(Campaign, Campaign.id == Send.campaign_id)
            .where(Campaign.key == campaign_key)
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def hand_over(self, ids: Sequence[int], now: datetime, worker: str) -> None:
        """Mark `ids` as about to reach a provider (committed before the call)."""
        self._update(ids, worker, ("sending",), handed_at=now, updated_at=now)

    def settle(self, settled: Sequence[Settled], now: datetime, worker: str) -> None:
        """Record provider attempts: one transaction for the whole request batch.

        Acceptance is recorded even over `unknown` (a reaped lease), since the
        provider's word beats our guess; anything else only over our claim.
        """
        rows = [
            {
                "sid": s.send_id,
                "worker": worker,
                "state": s.state,
                "due": s.due_at,
                "pmid": s.provider_message_id,
                "error": s.error,
                "sent": s.sent_at,
                "now": now,
            }
            for s in settled
        ]
        if not rows:
            return
        mine = and_(Send.state == "sending", Send.claimed_by == bindparam("worker"))
        accepted = and_(bindparam("state") == "sent", Send.state == "unknown")
        statement = (
            update(Send)
            .where(Send.id == bindparam("sid"), or_(mine, accepted))
            .values(
                state=bindparam("state"),
                due_at=func.coalesce(bindparam("due", type_=Send.due_at.type), Send.due_at),
                provider_message_id=bindparam("pmid"),
                last_error=bindparam("error"),
                sent_at=bindparam("sent", type_=Send.sent_at.type),
                attempts=Send.attempts + 1,
                lease_expires_at=None,
                updated_at=bindparam("now", type_=Send.updated_at.type),
            )
        )
        with self.engine.begin() as conn:
            conn.execute(statement.execution_options(synchronize_session=False), rows)

    def defer(self, until: Sequence[tuple[int, datetime]], now: datetime, worker: str) -> None:
        """Back to `queued`, due later (outside a window; never handed over)."""
        rows = [{"sid": sid, "worker": worker, "due": due, "now": now} for sid, due in until]
        if not rows:
            return
        statement = (
            update(Send)
            .where(
                Send.id == bindparam("sid"),
                Send.state == "sending",
                Send.claimed_by == bindparam("worker"),
            )
            .values(
                state="queued",
                due_at=bindparam("due", type_=Send.due_at.type),
                lease_expires_at=None,
                claimed_by=None,
                updated_at=bindparam("now", type_=Send.updated_at.type),
            )
        )
        with self.engine.begin() as conn:
            conn.execute(statement.execution_options(synchronize_session=False), rows)

    def skip(self, reasons: dict[int, str], now: datetime, worker: str) -> None:
        """`skipped` with the reason (consent, suppression, cap, ...)."""
        for reason in set(reasons.values()):
            ids = [sid for sid, why in reasons.items() if why == reason]
            self._update(
                ids, worker, ("sending",), state="skipped", last_error=reason, updated_at=now
            )

    def reap(self, now: datetime) -> tuple[int, int]:
        """Expired claims: (queued again, now unknown).

        A claim without a handover never reached a provider, so it is queued
        again; one with a handover may have been sent, so it is `unknown`
        and waits for the provider's word.
        """
        expired = and_(Send.state == "sending", Send.lease_expires_at < now)
        with self.engine.begin() as conn:
            again = conn.execute(
                update(Send)
                .where(expired, Send.handed_at.is_(None))
                .values(state="queued", claimed_by=None, lease_expires_at=None, updated_at=now)
            ).rowcount
            unknown = conn.execute(
                update(Send)
                .where(expired, Send.handed_at.is_not(None))
                .values(
                    state="unknown",
                    last_error="the worker's claim expired during the provider call",
                    lease_expires_at=None,
                    updated_at=now,
                )
            ).rowcount
        return again, unknown

    def resolve_unknown(self, now: datetime, grace: timedelta, resend: bool) -> int:
        """Unknown sends past the grace period: failed (give up) or queued (resend)."""
        old = and_(Send.state == "unknown", Send.updated_at < now - grace)
        values: dict[str, Any] = (
            {"state": "queued", "due_at": now, "claimed_by": None}
            if resend
            else {
                "state": "failed",
                "last_error": "fate unknown after the grace period; not resent",
            }
        )
        with self.engine.begin() as conn:
            return int(
                conn.execute(update(Send).where(old).values(updated_at=now, **values)).rowcount
            )

    def reconcile(self, sightings: Iterable[tuple[int, str | None]], now: datetime) -> int:
        """Provider evidence of acceptance: (send id, provider message id) -> `sent`."""
        with self.engine.begin() as conn:
            return reconcile_sends(conn, sightings, now)

    def _update(
        self, ids: Sequence[int], worker: str, states: tuple[str, ...], **values: Any
    ) -> None:
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(Send)
                .where(Send.id.in_(list(ids)), Send.state.in_(states), Send.claimed_by == worker)
                .values(**values)
            )


def reconcile_sends(
    conn: Connection, sightings: Iterable[tuple[int, str | None]], now: datetime
) -> int:
    """Turn `unknown` and `sending` sends seen by their provider into `sent` (caller's transaction).

    Only those two states change; a send already settled keeps its state
    (events arrive late and repeat). Webhooks call it in the transaction
    that records the event that proved the acceptance. Returns rows changed.
    """
    rows = [{"sid": sid, "pmid": pmid, "now": now} for sid, pmid in sightings]
    if not rows:
        return 0
    statement = (
        update(Send)
        .where(Send.id == bindparam("sid"), or_(Send.state == "unknown", Send.state == "sending"))
        .values(
            state="sent",
            provider_message_id=func.coalesce(bindparam("pmid"), Send.provider_message_id),
            sent_at=func.coalesce(Send.sent_at, bindparam("now", type_=Send.sent_at.type)),
            last_error=None,
            lease_expires_at=None,
            updated_at=bindparam("now", type_=Send.updated_at.type),
        )
    )
    result = conn.execute(statement.execution_options(synchronize_session=False), rows)
    return int(result.rowcount)


def _due_rows(ids: list[int]) -> Any:
    """The claimed sends with contact, cell, customer and metrics (one join)."""
    customers = Customer.__table__
    return (
        select(
            Send.id.label("send_id"),
            Send.contact_id,
            Send.campaign_id,
            Send.step,
            Send.channel,
            Send.attempts,
            Send.due_at,
            Send.expires_at,
            Cell.code.label("cell"),
            Contact.response_code,
            *[c.label(f"c_{c.name}") for c in customers.c],
            *[c.label(f"m_{c.name}") for c in _METRICS],
        )
        .join(Contact, Contact.id == Send.contact_id)
        .join(Cell, Cell.id == Contact.cell_id)
        .join(customers, customers.c.id == Send.customer_id)
        .outerjoin(CustomerMetrics, CustomerMetrics.customer_id == Send.customer_id)
        .where(Send.id.in_(ids))
        .order_by(Send.id)
    )


def _due(row: Any) -> Due:
    return Due(
        send_id=row["send_id"],
        contact_id=row["contact_id"],
        campaign_id=row["campaign_id"],
        step=row["step"],
        channel=row["channel"],
        attempts=row["attempts"],
        due_at=row["due_at"],
        cell=row["cell"],
        response_code=row["response_code"],
        customer={name: row[key] for key, name in _CUSTOMER_KEYS},
        metrics={name: row[key] for key, name in _METRIC_KEYS},
        expires_at=row["expires_at"],
    )
