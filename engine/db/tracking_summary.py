"""What callbacks did to one campaign, in a few grouped counts (demo, status)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from engine.db.models import Campaign, Cell, Consent, Contact, Event, Response, Send


@dataclass(frozen=True)
class SqlTrackingSummary:
    engine: Engine

    def counts(self, campaign_key: str) -> dict[str, list[tuple[object, ...]]]:
        """Events by kind, sends by delivery status, responses by cell and attribution."""
        campaign = select(Campaign.id).where(Campaign.key == campaign_key).scalar_subquery()
        events = (
            select(Event.kind, Event.machine, func.count())
            .where(Event.campaign_id == campaign)
            .group_by(Event.kind, Event.machine)
            .order_by(Event.kind, Event.machine)
        )
        delivery = (
            select(Send.step, func.coalesce(Send.delivery, "-"), func.count())
            .where(Send.campaign_id == campaign)
            .group_by(Send.step, Send.delivery)
            .order_by(Send.step, Send.delivery)
        )
        responses = (
            select(Cell.code, Response.attribution, func.count(), func.sum(Response.value_cents))
            .join(Contact, Contact.id == Response.contact_id)
            .join(Cell, Cell.id == Contact.cell_id)
            .where(Response.campaign_id == campaign)
            .group_by(Cell.code, Response.attribution)
            .order_by(Cell.code, Response.attribution)
        )
        withdrawn = (
            select(Consent.channel, Consent.source, func.count())
            .where(
                Consent.status == "withdrawn",
                Consent.recorded_at
                >= select(Campaign.launched_at).where(Campaign.id == campaign).scalar_subquery(),
            )
            .group_by(Consent.channel, Consent.source)
            .order_by(Consent.channel, Consent.source)
        )
        with self.engine.connect() as conn:
            return {
                name: [tuple(row) for row in conn.execute(query)]
                for name, query in (
                    ("events", events),
                    ("delivery", delivery),
                    ("responses", responses),
                    ("withdrawn", withdrawn),
                )
            }
