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

from sqlalchemy import Connection, Engine, and_, func, or_, select

from engine.core.orders import OrderRecord
from engine.core.sending.due import SuppressionKind
from engine.core.tracking.attribution import COUNTED, ContactClock
from engine.db.ledger import LedgerUnit, SendRef
from engine.db.models import Cell, Contact, Customer, CustomerSource, Order, Response, Send
from engine.db.optouts import set_consent, suppress
from engine.db.orders import insert_orders
from engine.db.responses import insert_responses

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
        """Store responses new to the table; returns how many of each attribution."""
        ids = insert_responses(self.conn, rows)
        if not ids:
            return Counter()
        query = (
            select(Response.attribution, func.count())
            .where(Response.id.in_(ids))
            .group_by(Response.attribution)
        )
        return Counter({str(a): int(n) for a, n in self.conn.execute(query)})

    def pending_orders(self, source: str, after: int, limit: int) -> list[PendingOrder]:
        """Orders of `source` after id `after` without a purchase response, by id.

        An anti-join on uq_responses_source_ref: an order is credited once,
        and an import interrupted before its attribution is completed by the
        next import of that source.
        """
        has = (
            select(Response.id)
            .where(
                and_(
                    Response.source == Order.source_name,
                    Response.source_ref == Order.external_order_id,
                    Response.kind == "purchase",
                )
            )
            .exists()
        )
        query = (
            select(
                Order.id,
                Order.external_order_id,
                Order.customer_id,
                Order.ordered_at,
                Order.base_amount_cents,
            )
            .where(Order.source_name == source, Order.id > after, ~has)
            .order_by(Order.id)
            .limit(limit)
        )
        return [PendingOrder(*row) for row in self.conn.execute(query)]

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
