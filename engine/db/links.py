"""Tracked link destinations: a click token carries a link id, never the URL."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from engine.db.models import TrackedLink


def insert_ignoring_duplicates(
    conn: Connection, table: type, rows: list[dict[str, object]]
) -> None:
    """INSERT .. ON CONFLICT DO NOTHING on either database (idempotent writes)."""
    maker = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(maker(table).on_conflict_do_nothing(), rows)


@dataclass
class SqlLinks:
    """Link ids per (campaign, URL), cached for the life of one dispatcher."""

    engine: Engine
    _known: dict[tuple[int, str], int] = field(default_factory=dict)

    def link_id(self, campaign_id: int, url: str) -> int:
        """The id of `url` in `campaign_id`, created on first use (uq_tracked_links_url)."""
        key = (campaign_id, url)
        if key not in self._known:
            digest = hashlib.sha256(url.encode()).hexdigest()
            row = {"campaign_id": campaign_id, "url_hash": digest, "url": url}
            with self.engine.begin() as conn:
                insert_ignoring_duplicates(conn, TrackedLink, [row])
                self._known[key] = conn.execute(
                    select(TrackedLink.id).where(
                        TrackedLink.campaign_id == campaign_id, TrackedLink.url_hash == digest
                    )
                ).scalar_one()
        return self._known[key]

    def destination(self, link_id: int) -> str | None:
        """Where a click on `link_id` goes (None for an unknown id)."""
        with self.engine.connect() as conn:
            return conn.execute(select(TrackedLink.url).where(TrackedLink.id == link_id)).scalar()
