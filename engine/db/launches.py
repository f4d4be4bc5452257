"""Launch writes: campaigns and cells, entry runs (engine.db.entrants), counts, status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, func, insert, select, update

from engine.core.campaign.launch import CellRow, Counts, Entry, Launched
from engine.db import tallies
from engine.db.entrants import enter
from engine.db.models import Campaign, Cell, Contact, Send


@dataclass(frozen=True)
class SqlLaunches:
    engine: Engine

    def find(self, key: str) -> Launched | None:
        query = select(Campaign).where(Campaign.key == key)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return Launched(**{f: row[f] for f in Launched.__dataclass_fields__})

    def create(self, fields: dict[str, Any], cells: list[CellRow]) -> int:
        """The campaign row and its cells; returns the campaign id."""
        with self.engine.begin() as conn:
            campaign_id = int(
                conn.execute(insert(Campaign).returning(Campaign.id), fields).scalar_one()
            )
            conn.execute(
                insert(Cell), [{"campaign_id": campaign_id, **vars(cell)} for cell in cells]
            )
        return campaign_id

    def update(self, campaign_id: int, **fields: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(Campaign).where(Campaign.id == campaign_id).values(**fields))

    def enter(self, campaign_id: int, entry: Entry) -> int:
        """Contacts, codes and first sends for one entry run; returns contacts written."""
        return enter(self.engine, campaign_id, entry)

    def counts(self, campaign_id: int) -> Counts:
        return _counts(self.engine, campaign_id)

    def set_status(self, campaign_id: int, status: str, reason: str | None, now: datetime) -> None:
        _set_status(self.engine, campaign_id, status, reason, now)

    def all(self) -> list[Launched]:
        return _campaigns(self.engine)

    def start_due(self, now: datetime) -> list[str]:
        """Scheduled campaigns whose start has come become running; returns their keys."""
        due = and_(Campaign.status == "scheduled", Campaign.starts_at <= now)
        with self.engine.begin() as conn:
            keys = list(conn.execute(select(Campaign.key).where(due)).scalars())
            conn.execute(update(Campaign).where(due).values(status="running", updated_at=now))
        return keys


def _counts(engine: Engine, campaign_id: int) -> Counts:
    """Contacts per cell, exclusions per reason and sends per state.

    Cells and sends come from the report tallies (engine.db.tallies: a few
    rows, whatever the audience); the exclusions are read through the
    unique key's campaign prefix.
    """
    cells = (
        select(Cell.id, Cell.code, Cell.is_control, Cell.share)
        .where(Cell.campaign_id == campaign_id)
        .order_by(Cell.id)
    )
    excluded = (
        select(Contact.reason, func.count())
        .where(Contact.campaign_id == campaign_id, Contact.status == "suppressed")
        .group_by(Contact.reason)
        .order_by(Contact.reason)
    )
    with engine.connect() as conn:
        sizes = tallies.cell_sizes(conn, campaign_id)
        return Counts(
            cells=[
                (row.code, row.is_control, row.share, sizes.get(row.id, 0))
                for row in conn.execute(cells)
            ],
            excluded=[(reason, n) for reason, n in conn.execute(excluded)],
            sends=sorted(tallies.send_states(conn, campaign_id).items()),
        )


def _set_status(
    engine: Engine, campaign_id: int, status: str, reason: str | None, now: datetime
) -> None:
    """New status with its reason; a cancel also cancels the sends still queued."""
    with engine.begin() as conn:
        conn.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(status=status, status_reason=reason, updated_at=now)
        )
        if status == "cancelled":
            conn.execute(
                update(Send)
                .where(Send.campaign_id == campaign_id, Send.state == "queued")
                .values(state="cancelled", updated_at=now, last_error=reason)
            )


def _campaigns(engine: Engine) -> list[Launched]:
    with engine.connect() as conn:
        rows = conn.execute(select(Campaign).order_by(Campaign.id)).mappings().all()
    return [Launched(**{f: row[f] for f in Launched.__dataclass_fields__}) for row in rows]
