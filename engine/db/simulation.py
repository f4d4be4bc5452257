"""What a simulation reads back from its throwaway database (engine.services.simulating)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select

from engine.core.simulation.reactions import SentMessage
from engine.db.models import Campaign, Cell, Contact, Customer, CustomerSource, Send

WENT = ("sent", "unknown")


@dataclass(frozen=True)
class SqlSimulation:
    engine: Engine

    def sent(self, campaign_key: str, since: datetime | None, until: datetime) -> list[SentMessage]:
        """The campaign's sends that went with ``since < sent_at <= until``, oldest first.

        ix_sends_step_sent (campaign_id, step, sent_at) serves the range; the
        customer's first source (by id, through the uq_customer_sources index)
        names them to the shop callbacks.
        """
        first_source = (
            select(func.min(CustomerSource.id))
            .where(CustomerSource.customer_id == Send.customer_id)
            .correlate(Send)
            .scalar_subquery()
        )
        query = (
            select(
                Send.id,
                Send.contact_id,
                Send.step,
                Cell.code,
                Send.channel,
                Send.sent_at,
                Customer.email,
                Customer.phone,
                Contact.response_code,
                CustomerSource.source_name,
                CustomerSource.source_ref,
            )
            .join(Campaign, Campaign.id == Send.campaign_id)
            .join(Contact, Contact.id == Send.contact_id)
            .join(Cell, Cell.id == Contact.cell_id)
            .join(Customer, Customer.id == Send.customer_id)
            .outerjoin(CustomerSource, CustomerSource.id == first_source)
            .where(Campaign.key == campaign_key, Send.state.in_(WENT), Send.sent_at <= until)
            .order_by(Send.sent_at, Send.id)
        )
        if since is not None:
            query = query.where(Send.sent_at > since)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            SentMessage(
                send_id=int(sid),
                contact_id=int(contact),
                step=str(step),
                cell=str(cell),
                channel=str(channel),
                sent_at=sent_at,
                recipient=email if channel == "email" else phone,
                response_code=code,
                customer_source=source,
                customer_ref=ref or None,
            )
            for sid, contact, step, cell, channel, sent_at, email, phone, code, source, ref in rows
        ]

    def campaign_id(self, campaign_key: str) -> int | None:
        with self.engine.connect() as conn:
            found = conn.execute(select(Campaign.id).where(Campaign.key == campaign_key)).scalar()
        return None if found is None else int(found)

    def launched_at(self, campaign_key: str) -> datetime | None:
        """When the campaign with this key was launched (None: it never was)."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(Campaign.launched_at).where(Campaign.key == campaign_key)
            ).scalar()
