"""Tables of tracking: raw webhook batches, the event ledger, quarantined events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.models.base import Base
from engine.db.types import Id


class WebhookBatch(Base):
    """A callback body exactly as it arrived, stored before we answer 2xx.

    Verified first (a forged request stores nothing), then kept durably so
    that processing can be repeated; `status` says how far processing got.
    """

    __tablename__ = "webhook_batches"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source: Mapped[str] = mapped_column(
        String(32)
    )  # sendgrid | twilio_status | twilio_inbound | ...
    received_at: Mapped[datetime]
    body: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the ones that matter
    status: Mapped[str] = mapped_column(String(16))  # received | processed
    processed_at: Mapped[datetime | None]
    events: Mapped[int] = mapped_column(default=0)
    quarantined: Mapped[int] = mapped_column(default=0)
    __table_args__ = (Index("ix_webhook_batches_status", "status", "received_at"),)


class Event(Base):
    """Something a provider or our tracking reported, once per `event_key`.

    `event_key` is the provider's id (``sendgrid:<sg_event_id>``) or a
    deterministic one (``twilio:<MessageSid>:<status>``, ``open:<send>:<minute>``),
    so replays and retries insert nothing.
    """

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    event_key: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))  # engine.core.tracking.events.KINDS
    # No foreign keys (a row check each per event): copied from the send the
    # writer has just read (migration 0010; `campaign db check` proves them).
    send_id: Mapped[int | None] = mapped_column(Id)
    campaign_id: Mapped[int | None] = mapped_column(Id)
    customer_id: Mapped[int | None] = mapped_column(Id)
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    machine: Mapped[bool] = mapped_column(default=False)  # machine opens (Apple MPP, scanners)
    url: Mapped[str | None] = mapped_column(Text)  # clicks
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)  # reason, type, error code
    batch_id: Mapped[int | None] = mapped_column(Id)  # the stored raw batch; no key either
    __table_args__ = (
        # follow-ups and reports read a send's events by kind and time
        Index("ix_events_send_kind", "send_id", "kind", "occurred_at"),
        Index("ix_events_campaign_kind", "campaign_id", "kind"),
    )


class QuarantinedEvent(Base):
    """An event of a batch that could not be applied, with the reason; the rest was."""

    __tablename__ = "quarantined_events"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_batches.id"))
    source: Mapped[str] = mapped_column(String(32))
    position: Mapped[int]  # index in the batch
    reason: Mapped[str] = mapped_column(String(500))
    raw: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
