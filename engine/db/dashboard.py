"""Named read queries behind the dashboard's customer and alert pages.

Campaign figures come from engine.db.results (the report). The customer file
reads one customer's rows by indexed keys; rows leave as frozen values or
plain dicts of the selected columns, never ORM objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, or_, select

from engine.db.models import (
    Alert,
    Campaign,
    Cell,
    Consent,
    Contact,
    Customer,
    CustomerMetrics,
    Response,
    Send,
    Suppression,
)

A, CA, CE, CO, CU, M, R, S, SU, CN = (
    t.__table__
    for t in (
        Alert,
        Campaign,
        Cell,
        Contact,
        Customer,
        CustomerMetrics,
        Response,
        Send,
        Suppression,
        Consent,
    )
)


def latest_alerts(engine: Engine, limit: int = 100) -> list[dict[str, Any]]:
    """The newest alerts first, with their campaign's key (alerts are few; indexed by id)."""
    query = (
        select(
            A.c.id, A.c.created_at, A.c.kind, A.c.message, A.c.send_id, CA.c.key.label("campaign")
        )
        .select_from(A.outerjoin(CA, CA.c.id == A.c.campaign_id))
        .order_by(A.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def find_customers(engine: Engine, text: str, limit: int = 50) -> list[dict[str, Any]]:
    """Customers whose id, external id, e-mail or phone is exactly `text` (indexed columns)."""
    text = text.strip()
    matches = [CU.c.external_id == text, CU.c.email == text.lower(), CU.c.phone == text]
    if text.isdigit():
        matches.append(CU.c.id == int(text))
    query = (
        select(CU.c.id, CU.c.external_id, CU.c.first_name, CU.c.last_name, CU.c.email, CU.c.city)
        .where(or_(*matches))
        .order_by(CU.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


@dataclass(frozen=True)
class CustomerFile:
    """Everything the engine holds about one customer, for the customer page."""

    profile: dict[str, Any]
    metrics: dict[str, Any] | None
    consents: list[dict[str, Any]]  # the ledger, oldest first
    suppressions: list[dict[str, Any]]
    contacts: list[dict[str, Any]]  # contact history: campaign, cell, status, code
    sends: list[dict[str, Any]]
    responses: list[dict[str, Any]]


def customer_file(engine: Engine, customer_id: int) -> CustomerFile | None:
    """The customer's profile, metrics, consents, contact history, sends and responses; None if unknown."""
    with engine.connect() as conn:

        def rows(query: Any) -> list[dict[str, Any]]:
            return [dict(row._mapping) for row in conn.execute(query)]

        profile = rows(select(CU).where(CU.c.id == customer_id))
        if not profile:
            return None
        metrics = rows(select(M).where(M.c.customer_id == customer_id))
        return CustomerFile(
            profile=profile[0],
            metrics=metrics[0] if metrics else None,
            consents=rows(
                select(CN.c.channel, CN.c.status, CN.c.recorded_at, CN.c.source, CN.c.evidence)
                .where(CN.c.customer_id == customer_id)
                .order_by(CN.c.recorded_at, CN.c.id)
            ),
            suppressions=rows(
                select(SU.c.channel, SU.c.kind, SU.c.reason, SU.c.source, SU.c.created_at)
                .where(SU.c.customer_id == customer_id)
                .order_by(SU.c.created_at)
            ),
            contacts=rows(_contacts(customer_id)),
            sends=rows(_sends(customer_id)),
            responses=rows(_responses(customer_id)),
        )


def _contacts(customer_id: int) -> Any:
    # Contacts have no customer-first index (it slowed launches; see the
    # model): walk the few campaigns and seek (campaign_id, customer_id) in
    # each (campaign_id IN (...) AND customer_id = ?), not every contact.
    mine = and_(CO.c.campaign_id.in_(select(CA.c.id)), CO.c.customer_id == customer_id)
    return (
        select(
            CA.c.key.label("campaign"),
            CA.c.name,
            CE.c.code.label("cell"),
            CE.c.is_control,
            CO.c.status,
            CO.c.reason,
            CO.c.response_code,
            CO.c.entered_at,
        )
        .select_from(
            CO.join(CA, CA.c.id == CO.c.campaign_id).outerjoin(CE, CE.c.id == CO.c.cell_id)
        )
        .where(mine)
        .order_by(CO.c.entered_at.desc(), CO.c.id.desc())
    )


def _sends(customer_id: int) -> Any:
    return (
        select(
            CA.c.key.label("campaign"),
            S.c.step,
            S.c.channel,
            S.c.state,
            S.c.due_at,
            S.c.sent_at,
            S.c.delivery,
            S.c.delivery_at,
            S.c.opened_at,
            S.c.clicked_at,
        )
        .select_from(S.join(CA, CA.c.id == S.c.campaign_id))
        .where(S.c.customer_id == customer_id)
        .order_by(S.c.due_at.desc(), S.c.id.desc())
    )


def _responses(customer_id: int) -> Any:
    return (
        select(
            CA.c.key.label("campaign"),
            R.c.kind,
            R.c.attribution,
            R.c.occurred_at,
            R.c.value_cents,
            R.c.code,
            R.c.source,
        )
        .select_from(R.outerjoin(CA, CA.c.id == R.c.campaign_id))
        .where(R.c.customer_id == customer_id)
        .order_by(R.c.occurred_at.desc(), R.c.id.desc())
    )
