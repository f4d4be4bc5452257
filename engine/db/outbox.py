"""`OutboxChannel`: the channel for every way out that has no provider configured.

Each rendered message becomes a row of `outbox_messages`, unique per send,
so writing the same send twice (a retry after a crash) stores it once: the
outbox is exactly-once by construction. The demo and dry runs send here.
It lives in db/ because the database is where it writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from engine.core.sending.message import Message, Outcome
from engine.db.models import Alert, Campaign, Cell, Contact, Customer, OutboxMessage, Send
from engine.db.upsert import insert_ignoring_duplicates


@dataclass
class OutboxChannel:
    engine: Engine
    name: str
    clock: Callable[[], datetime]

    def send(self, messages: Sequence[Message]) -> list[Outcome]:
        now = self.clock()
        rows = [
            {
                "send_id": m.send_id,
                "channel": m.channel,
                "recipient": m.to,
                "subject": m.rendered.subject,
                "text": m.rendered.text,
                "html": m.rendered.html,
                "headers": dict(m.headers),
                "created_at": now,
            }
            for m in messages
        ]
        if rows:
            with self.engine.begin() as conn:
                insert_ignoring_duplicates(conn, OutboxMessage, rows)
        return [
            Outcome(m.send_id, "sent", provider_message_id=f"outbox-{m.send_id}") for m in messages
        ]

    def flush(self) -> list[str]:
        return []

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class SqlOutboxReader:
    engine: Engine

    def latest(self, campaign_key: str | None, limit: int) -> list[dict[str, object]]:
        """The newest outbox messages (of one campaign), newest first."""
        query = (
            select(
                OutboxMessage.send_id,
                OutboxMessage.channel,
                OutboxMessage.recipient,
                OutboxMessage.subject,
                OutboxMessage.text,
                Send.step,
                Campaign.key.label("campaign"),
            )
            .join(Send, Send.id == OutboxMessage.send_id)
            .join(Campaign, Campaign.id == Send.campaign_id)
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        )
        if campaign_key:
            query = query.where(Campaign.key == campaign_key)
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def sent(self, campaign_key: str) -> list[dict[str, Any]]:
        """A campaign's outbox e-mails with send, cell and recipient (the demo's callbacks)."""
        query = (
            select(
                OutboxMessage.send_id,
                OutboxMessage.recipient,
                OutboxMessage.html,
                Send.sent_at,
                Send.step,
                Cell.code.label("cell"),
                Customer.phone,
                Campaign.key.label("campaign"),
            )
            .join(Send, Send.id == OutboxMessage.send_id)
            .join(Contact, Contact.id == Send.contact_id)
            .join(Cell, Cell.id == Contact.cell_id)
            .join(Customer, Customer.id == Send.customer_id)
            .join(Campaign, Campaign.id == Send.campaign_id)
            .where(Campaign.key == campaign_key, OutboxMessage.channel == "email")
            .order_by(OutboxMessage.send_id)
        )
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def contacts(self, campaign_key: str) -> list[dict[str, Any]]:
        """A campaign's assigned contacts (treated and held out) with cell, code and customer ref."""
        query = (
            select(
                Contact.id.label("contact_id"),
                Contact.response_code,
                Cell.code.label("cell"),
                Customer.external_id,
            )
            .join(Cell, Cell.id == Contact.cell_id)
            .join(Customer, Customer.id == Contact.customer_id)
            .join(Campaign, Campaign.id == Contact.campaign_id)
            .where(Campaign.key == campaign_key, Contact.status.in_(("treated", "held_out")))
            .order_by(Contact.id)
        )
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def counts(self) -> list[tuple[str, str, int]]:
        """(campaign, channel, messages) in the outbox."""
        query = (
            select(Campaign.key, OutboxMessage.channel, func.count())
            .join(Send, Send.id == OutboxMessage.send_id)
            .join(Campaign, Campaign.id == Send.campaign_id)
            .group_by(Campaign.key, OutboxMessage.channel)
            .order_by(Campaign.key, OutboxMessage.channel)
        )
        with self.engine.connect() as conn:
            return [(str(k), str(c), int(n)) for k, c, n in conn.execute(query).all()]


@dataclass(frozen=True)
class SqlAlerts:
    engine: Engine

    def latest(self, campaign_key: str, limit: int = 5) -> list[tuple[datetime, str, str]]:
        """(when, kind, message) of a campaign's newest alerts (ix_alerts_created)."""
        query = (
            select(Alert.created_at, Alert.kind, Alert.message)
            .join(Campaign, Campaign.id == Alert.campaign_id)
            .where(Campaign.key == campaign_key)
            .order_by(Alert.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(at, str(kind), str(message)) for at, kind, message in conn.execute(query)]
