"""Tables of sending: the outbox, throttles, tracked links, alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.models.base import Base
from engine.db.types import Id


class OutboxMessage(Base):
    """A message rendered for a channel without a provider (demo, dry runs)."""

    __tablename__ = "outbox_messages"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id"), unique=True)
    channel: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class Throttle(Base):
    """Pacing per channel shared by every worker (a GCRA reservation clock).

    `next_at` (Unix seconds, a float so both databases do the arithmetic in
    one UPDATE) is when the next message may go: a worker reserving n
    messages moves it n / rate seconds on, so workers on any machine share
    one rate without talking to each other.
    """

    __tablename__ = "throttles"
    channel: Mapped[str] = mapped_column(String(8), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float)


class TrackedLink(Base):
    """A destination of a tracked e-mail link: tokens carry its id, never the URL."""

    __tablename__ = "tracked_links"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    url_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the URL
    url: Mapped[str] = mapped_column(Text)
    __table_args__ = (UniqueConstraint("campaign_id", "url_hash", name="uq_tracked_links_url"),)


class Alert(Base):
    """Something an operator must look at (carrier filtering, a paused campaign)."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    created_at: Mapped[datetime]
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    send_id: Mapped[int | None] = mapped_column(ForeignKey("sends.id"))
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(String(1000))
    __table_args__ = (Index("ix_alerts_created", "created_at"),)
