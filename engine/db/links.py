"""Tracked link destinations: a click token carries a link id, never the URL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from engine.db.models import TrackedLink
from engine.db.upsert import insert_ignoring_duplicates


@dataclass
class SqlLinks:
    """Link ids per (campaign, URL), cached for the life of one dispatcher."""

    engine: Engine
    _known: dict[tuple[int, str], int] = field(default_factory=dict)

    def link_ids(self, campaign_id: int, urls: Iterable[str]) -> dict[str, int]:
        """Ids of `urls` in `campaign_id`, created on first use: one round trip per batch.

        Personal links (a response code in the query) make most URLs new, so
        a batch's links are inserted together (ON CONFLICT DO NOTHING on
        uq_tracked_links_url) and read back by hash in one SELECT.
        """
        known = {
            url: self._known[(campaign_id, url)]
            for url in set(urls)
            if (campaign_id, url) in self._known
        }
        new = {
            hashlib.sha256(url.encode()).hexdigest(): url for url in set(urls) if url not in known
        }
        if new:
            rows = [{"campaign_id": campaign_id, "url_hash": h, "url": u} for h, u in new.items()]
            with self.engine.begin() as conn:
                insert_ignoring_duplicates(conn, TrackedLink, rows)
                found = conn.execute(
                    select(TrackedLink.url_hash, TrackedLink.id).where(
                        TrackedLink.campaign_id == campaign_id, TrackedLink.url_hash.in_(list(new))
                    )
                ).all()
            if len(self._known) > 100_000:  # personal links: keep the cache bounded
                self._known.clear()
            for digest, link in found:
                known[new[digest]] = self._known[(campaign_id, new[digest])] = int(link)
        return known

    def destination(self, link_id: int) -> str | None:
        """Where a click on `link_id` goes (None for an unknown id)."""
        with self.engine.connect() as conn:
            return conn.execute(select(TrackedLink.url).where(TrackedLink.id == link_id)).scalar()
