"""Consent withdrawals, re-grants and suppressions, written inside a caller's transaction.

Shared by everything that learns a customer must not be contacted: the
dispatcher (Twilio 21610, landlines), webhooks (STOP, spam reports, hard
bounces, do-not-call, returned mail) and the unsubscribe page.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.orm import aliased

from engine.core.sending.due import SuppressionKind, suppression_token
from engine.db.models import Consent, Customer, Suppression


def latest_consent(conn: Connection, customer_id: int, channel: str) -> str | None:
    """The newest consent status of a customer on a channel (ix_consents_customer_channel)."""
    return conn.execute(
        select(Consent.status)
        .where(Consent.customer_id == customer_id, Consent.channel == channel)
        .order_by(Consent.id.desc())
        .limit(1)
    ).scalar()


def set_consent(
    conn: Connection,
    customer_id: int,
    channel: str,
    status: str,
    source: str,
    evidence: str,
    now: datetime,
) -> bool:
    """Append `status` to the ledger unless it is already the latest; True when written."""
    if latest_consent(conn, customer_id, channel) == status:
        return False
    conn.execute(
        insert(Consent).values(
            customer_id=customer_id,
            channel=channel,
            status=status,
            recorded_at=now,
            source=source[:100],
            evidence=evidence[:500],
        )
    )
    return True


def suppress(
    conn: Connection,
    channel: str,
    kind: SuppressionKind,
    value: str | None,
    customer_id: int | None,
    reason: str,
    source: str,
    now: datetime,
) -> None:
    """Suppress an address (hashed) and/or a customer on `channel` (or ``all``)."""
    token = suppression_token(kind, value) if value else None
    if token is None and customer_id is None:
        raise ValueError("a suppression names a customer or an address")
    conn.execute(
        insert(Suppression).values(
            channel=channel,
            customer_id=customer_id,
            token_hash=token,
            kind=kind,
            reason=reason[:64],
            source=source[:100],
            created_at=now,
        )
    )


def customers_by(conn: Connection, field: str, values: Collection[str]) -> dict[str, list[int]]:
    """Customer ids per e-mail or phone value (``field`` is ``email`` or ``phone``)."""
    column = {"email": Customer.email, "phone": Customer.phone}[field]
    found: dict[str, list[int]] = {}
    rows = conn.execute(select(column, Customer.id).where(column.in_(sorted(set(values)))))
    for value, customer_id in rows:
        found.setdefault(str(value), []).append(int(customer_id))
    return found


def withdrawn_customers(conn: Connection, channel: str, ids: Collection[int]) -> set[int]:
    """Which of `ids` have withdrawn consent on `channel` as their latest word."""
    newer = aliased(Consent)
    later = select(newer.id).where(
        newer.customer_id == Consent.customer_id,
        newer.channel == Consent.channel,
        newer.id > Consent.id,
    )
    query = select(Consent.customer_id).where(
        Consent.customer_id.in_(sorted(set(ids))),
        Consent.channel == channel,
        Consent.status == "withdrawn",
        ~later.exists(),
    )
    return {int(i) for i in conn.execute(query).scalars()}


def latest_consents(conn: Connection, channel: str, ids: Collection[int]) -> dict[int, str]:
    """The newest consent status on `channel` of each of `ids` that has one (one query)."""
    if not ids:
        return {}
    newest = (
        select(Consent.customer_id, func.max(Consent.id).label("id"))
        .where(Consent.customer_id.in_(sorted(set(ids))), Consent.channel == channel)
        .group_by(Consent.customer_id)
        .subquery()
    )
    rows = conn.execute(
        select(Consent.customer_id, Consent.status).join(newest, newest.c.id == Consent.id)
    )
    return {int(customer_id): str(status) for customer_id, status in rows.all()}


def set_consents(
    conn: Connection,
    evidence: Mapping[int, str],
    channel: str,
    status: str,
    source: str,
    now: datetime,
) -> set[int]:
    """`set_consent` for many customers (customer id -> evidence) in two statements.

    Returns the customers whose latest word changed (and was appended).
    """
    latest = latest_consents(conn, channel, evidence)
    changed = [customer for customer in evidence if latest.get(customer) != status]
    if changed:
        conn.execute(
            insert(Consent),
            [
                {
                    "customer_id": customer,
                    "channel": channel,
                    "status": status,
                    "recorded_at": now,
                    "source": source[:100],
                    "evidence": evidence[customer][:500],
                }
                for customer in changed
            ],
        )
    return set(changed)


def suppress_new(
    conn: Connection,
    channel: str,
    kind: SuppressionKind,
    values: Mapping[str, int | None],
    reason: str,
    source: str,
    now: datetime,
) -> set[str]:
    """Suppress each address (value -> its customer, if known) not yet suppressed for `reason`.

    Two statements for any number of addresses; returns the values written.
    """
    tokens = {suppression_token(kind, value): value for value in values}
    if not tokens:
        return set()
    known = set(
        conn.execute(
            select(Suppression.token_hash).where(
                Suppression.channel == channel,
                Suppression.token_hash.in_(sorted(tokens)),
                Suppression.reason == reason,
            )
        )
        .scalars()
        .all()
    )
    new = [(token, value) for token, value in tokens.items() if token not in known]
    if new:
        conn.execute(
            insert(Suppression),
            [
                {
                    "channel": channel,
                    "customer_id": values[value],
                    "token_hash": token,
                    "kind": kind,
                    "reason": reason[:64],
                    "source": source[:100],
                    "created_at": now,
                }
                for token, value in new
            ],
        )
    return {value for _, value in new}
