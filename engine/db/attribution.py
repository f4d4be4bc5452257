"""Named statements behind response attribution, inside a caller's transaction.

Attribution reads the contact history of a whole batch of responses at once
(`clocks`: one statement for every customer and contact the batch names,
served by ix_contacts_customer and uq_sends_contact_step), decides in Python
(engine.core.tracking.attribution) and inserts the batch's responses in one
statement. An order import of 100k rows is thus a few statements per page of
orders, never one per order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, or_, select, text

from engine.core.orders import OrderRecord
from engine.core.sending.due import SuppressionKind
from engine.core.tracking.attribution import COUNTED, ContactClock
from engine.db import bulk
from engine.db.ledger import LedgerUnit, SendRef
from engine.db.models import Cell, Contact, Customer, CustomerSource, Order, Response, Send
from engine.db.optouts import set_consent, suppress
from engine.db.order_credit import credit_uncontacted
from engine.db.orders import insert_orders

STAGED = (
    "source",
    "source_ref",
    "kind",
    "customer_id",
    "contact_id",
    "campaign_id",
    "send_id",
    "attribution",
    "occurred_at",
    "recorded_at",
    "value_cents",
    "code",
    "value",
    "detail",
)
TYPED = ("occurred_at", "recorded_at", "detail")
# Kept with the (pooled) connection and emptied before each use, so that a
# transaction may insert responses more than once.
CREATE_RESPONSE_STAGE = {
    "sqlite": """CREATE TEMP TABLE IF NOT EXISTS response_stage (
        source TEXT, source_ref TEXT, kind TEXT, customer_id INTEGER, contact_id INTEGER,
        campaign_id INTEGER, send_id INTEGER, attribution TEXT, occurred_at TEXT,
        recorded_at TEXT, value_cents INTEGER, code TEXT, value TEXT, detail TEXT)""",
    "postgresql": """CREATE TEMP TABLE IF NOT EXISTS response_stage (
        source TEXT, source_ref TEXT, kind TEXT, customer_id BIGINT, contact_id BIGINT,
        campaign_id BIGINT, send_id BIGINT, attribution TEXT, occurred_at TIMESTAMPTZ,
        recorded_at TIMESTAMPTZ, value_cents BIGINT, code TEXT, value TEXT, detail JSONB)""",
}
# `WHERE true` keeps SQLite's parser from reading ON CONFLICT as a join clause.
INSERT_STAGED_RESPONSES = text(f"""
    INSERT INTO responses ({", ".join(STAGED)})
    SELECT {", ".join(STAGED)} FROM response_stage WHERE true
    ON CONFLICT (source, source_ref, kind) DO NOTHING
    RETURNING attribution
""")
PROFILE = ("phone", "address_line1", "address_line2", "postal_code", "city", "country")


@dataclass(frozen=True, slots=True)
class PendingOrder:
    """An order that has no purchase response yet."""

    id: int
    source_ref: str
    customer_id: int
    ordered_at: datetime
    value_cents: int


@dataclass(frozen=True)
class SqlResponses:
    """Contact history reads and response writes over one connection."""

    conn: Connection

    def clocks(self, customers: Collection[int], contacts: Collection[int]) -> list[ContactClock]:
        """Contacts (treated and control) of `customers`, and the contacts `contacts`,
        with the first send and due times their windows start from.

        One grouped statement: contacts by customer (ix_contacts_customer) or
        id, their cell, the customer's timezone, MIN(sent_at) and MIN(due_at)
        of their sends (uq_sends_contact_step starts with contact_id).
        """
        wanted = []
        if customers:
            wanted.append(Contact.customer_id.in_(sorted(set(customers))))
        if contacts:
            wanted.append(Contact.id.in_(sorted(set(contacts))))
        if not wanted:
            return []
        query = (
            select(
                Contact.id,
                Contact.campaign_id,
                Contact.customer_id,
                Cell.code,
                Contact.status,
                Contact.entered_at,
                func.min(Send.sent_at),
                func.min(Send.due_at),
                Customer.timezone,
            )
            .join(Customer, Customer.id == Contact.customer_id)
            .outerjoin(Cell, Cell.id == Contact.cell_id)
            .outerjoin(Send, Send.contact_id == Contact.id)
            .where(or_(*wanted), Contact.status.in_(COUNTED))
            .group_by(Contact.id, Cell.code, Customer.timezone)
        )
        return [ContactClock(*row) for row in self.conn.execute(query)]

    def sends(self, ids: Sequence[int]) -> dict[int, SendRef]:
        """The sends with these ids (unknown ids are absent)."""
        return LedgerUnit(self.conn).sends(ids)

    def latest_sends(self, contacts: Collection[int], channel: str) -> dict[int, int]:
        """Contact id -> its most recent send on `channel` (a code names a contact, not a step)."""
        if not contacts:
            return {}
        query = (
            select(Send.contact_id, Send.id)
            .where(Send.contact_id.in_(sorted(set(contacts))), Send.channel == channel)
            .order_by(Send.contact_id, Send.due_at, Send.id)
        )
        return {int(contact): int(send) for contact, send in self.conn.execute(query)}

    def customers(
        self, source: str, external_ids: Collection[str], emails: Collection[str]
    ) -> tuple[dict[str, int], dict[str, int]]:
        """(external id -> customer, e-mail -> customer): ids of `source`
        (uq on customer_sources), e-mails as stored (lower case)."""
        by_ref: dict[str, int] = {}
        if external_ids:
            query = select(CustomerSource.source_ref, CustomerSource.customer_id).where(
                CustomerSource.source_name == source,
                CustomerSource.source_ref.in_(sorted(set(external_ids))),
            )
            by_ref = {str(ref): int(i) for ref, i in self.conn.execute(query)}
        by_email: dict[str, int] = {}
        if emails:
            query = select(Customer.email, func.min(Customer.id)).where(
                Customer.email.in_(sorted(set(emails)))
            )
            by_email = {
                str(e): int(i) for e, i in self.conn.execute(query.group_by(Customer.email))
            }
        return by_ref, by_email

    def profiles(self, ids: Collection[int]) -> dict[int, dict[str, Any]]:
        """Phone and postal address of customers, for suppressions."""
        if not ids:
            return {}
        columns = [getattr(Customer, name) for name in PROFILE]
        query = select(Customer.id, *columns).where(Customer.id.in_(sorted(set(ids))))
        return {
            int(row[0]): dict(zip(PROFILE, row[1:], strict=True))
            for row in self.conn.execute(query)
        }

    def insert(self, rows: list[dict[str, Any]]) -> Counter[str]:
        """Store responses new to the table; returns how many of each attribution.

        Staged like the order import (COPY on PostgreSQL, executemany on
        SQLite), then one INSERT .. SELECT with ON CONFLICT DO NOTHING on
        uq_responses_source_ref, the dedupe key of `insert_responses`: the
        per-row parameter handling of a plain multi-row INSERT cost more than
        attribution itself on an order import.
        """
        if not rows:
            return Counter()
        self.conn.exec_driver_sql(CREATE_RESPONSE_STAGE[self.conn.dialect.name])
        self.conn.exec_driver_sql("DELETE FROM response_stage")
        tuples = [tuple(row.get(column) for column in STAGED) for row in rows]
        bulk.insert_many(self.conn, "response_stage", STAGED, tuples, typed=TYPED)
        return Counter(str(a) for a in self.conn.execute(INSERT_STAGED_RESPONSES).scalars())

    def pending_orders(
        self, source: str, batch_id: int | None, after: int, limit: int
    ) -> tuple[list[PendingOrder], int | None]:
        """(orders to credit, last order id read) for the next page after id `after`;
        the id is None when there is no page left.

        Orders of import batch `batch_id`, or (None) every order of `source`
        without a purchase response. The latter pages through the source's
        orders by primary key and looks the page's order ids up in
        uq_responses_source_ref: a correlated anti-join was planned as a scan
        of `responses` per order while its statistics still said it had none
        of the source (a first backfill), quadratic in the orders. The
        ``source_name || ''`` keeps SQLite on the primary key too: on the
        (source_name, order id) index it read and sorted every order of the
        source for each page.
        """
        query = select(
            Order.id,
            Order.external_order_id,
            Order.customer_id,
            Order.ordered_at,
            Order.base_amount_cents,
        ).where(Order.source_name + "" == source, Order.id > after)
        if batch_id is not None:
            query = query.where(Order.import_batch_id == batch_id)
        page = [
            PendingOrder(*row) for row in self.conn.execute(query.order_by(Order.id).limit(limit))
        ]
        if not page:
            return [], None
        if batch_id is None:
            known = select(Response.source_ref).where(
                Response.source == source,
                Response.kind == "purchase",
                Response.source_ref.in_([o.source_ref for o in page]),
            )
            done = set(self.conn.execute(known).scalars())
            return [o for o in page if o.source_ref not in done], page[-1].id
        return page, page[-1].id

    def credit_uncontacted(
        self, source: str, batch_id: int | None, now: datetime
    ) -> tuple[int, bool]:
        """``none`` responses for the orders no contact can claim, set-based
        (engine.db.order_credit); (how many new, whether orders are left)."""
        return credit_uncontacted(self.conn, source, batch_id, now)

    def add_orders(self, source: str, orders: list[tuple[int, OrderRecord]]) -> int:
        """New orders of `source` (the order import's dedupe); returns how many."""
        return insert_orders(self.conn, source, orders)

    def suppress(
        self,
        channel: str,
        kind: SuppressionKind,
        value: str | None,
        customer_id: int | None,
        reason: str,
        source: str,
        now: datetime,
    ) -> None:
        suppress(self.conn, channel, kind, value, customer_id, reason, source, now)

    def withdraw(
        self, customer_id: int, channel: str, source: str, evidence: str, now: datetime
    ) -> None:
        set_consent(self.conn, customer_id, channel, "withdrawn", source, evidence, now)


@dataclass(frozen=True)
class SqlResponseUnits:
    """Transactions for use cases outside a webhook (the order-import hook)."""

    engine: Engine

    @contextmanager
    def unit(self) -> Iterator[SqlResponses]:
        with self.engine.begin() as conn:
            yield SqlResponses(conn)
