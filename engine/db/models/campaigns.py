"""Tables of contact history: campaigns, their cells, contacts, sends, responses.

The campaigns-as-code issue reads them (frequency caps, "contacted" and
"responded" segment filters); launch, sending and tracking write them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.models.base import Base
from engine.db.types import Big, Id


class Campaign(Base):
    """One campaign as launched: its YAML, hash and salt are frozen at launch."""

    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))  # batch | trigger
    spec_yaml: Mapped[str] = mapped_column(Text)
    spec_hash: Mapped[str] = mapped_column(String(64))
    salt: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(String(500))
    starts_at: Mapped[datetime]
    launched_at: Mapped[datetime | None]
    entered_at: Mapped[datetime | None]  # trigger campaigns: the last entry run
    # Provider errors in a row; the dispatcher pauses the campaign at the
    # configured limit and resets the count on every success.
    provider_errors: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    __table_args__ = (
        CheckConstraint(
            "status IN ('scheduled', 'running', 'paused', 'completed', 'cancelled')", name="status"
        ),
    )


class Cell(Base):
    """A test cell or a control cell of a campaign."""

    __tablename__ = "cells"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    code: Mapped[str] = mapped_column(String(64))
    is_control: Mapped[bool]
    share: Mapped[float] = mapped_column(Float)
    vars: Mapped[dict[str, Any]] = mapped_column(default=dict)
    __table_args__ = (UniqueConstraint("campaign_id", "code", name="uq_cells_campaign_code"),)


class Contact(Base):
    """Contact history: one row per customer per campaign (and entry), controls included."""

    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # No foreign keys: a launch writes a million contacts in one statement,
    # and the row-by-row checks cost it ~7 s on PostgreSQL (migration 0008);
    # `campaign db check` finds orphans (engine.db.integrity).
    campaign_id: Mapped[int] = mapped_column(Id)
    customer_id: Mapped[int] = mapped_column(Id)
    cell_id: Mapped[int | None] = mapped_column(Id)
    status: Mapped[str] = mapped_column(String(16))  # treated | held_out | suppressed
    reason: Mapped[str | None] = mapped_column(String(64))
    # Unique by construction (a bijection of the id, engine.core.codes) and
    # looked up by decoding it to the id: no index to maintain on a launch.
    response_code: Mapped[str | None] = mapped_column(String(16))
    entered_at: Mapped[datetime]
    # 1 for a batch campaign; trigger campaigns count re-entries up from 1.
    entry: Mapped[int] = mapped_column(default=1, server_default="1")
    # What any of its sends did (sent, delivered, bounced, opened, clicked:
    # engine.db.tallies.REACH), kept by the triggers of migration 0007.
    reach: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    __table_args__ = (
        # Campaign first: a launch appends its rows at the end of this index,
        # and every read is by campaign (counts, entries, re-entry waits,
        # "contacted" filters); a customer's contacts in given campaigns are
        # (campaign_id, customer_id) seeks. A second, customer-first index
        # cost a launch 1.5 s (SQLite) to 5 s (PostgreSQL) per million rows.
        UniqueConstraint(
            "campaign_id", "customer_id", "entry", name="uq_contacts_campaign_customer"
        ),
        # `after_entry` follow-ups read a campaign's recent entrants.
        Index("ix_contacts_campaign_entered", "campaign_id", "entered_at"),
        CheckConstraint("status IN ('treated', 'held_out', 'suppressed')", name="status"),
    )


class Send(Base):
    """The outbox: one row per contact per step (ARCHITECTURE invariant 1)."""

    __tablename__ = "sends"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    contact_id: Mapped[int] = mapped_column(Id)  # no foreign key: see Contact
    # The contact's campaign and customer, copied for the dispatcher's and the
    # frequency caps' indexes. No foreign keys of their own: the contact's
    # already hold, and each cost a launch a row check (PostgreSQL: a trigger
    # call and a row lock) per send.
    campaign_id: Mapped[int] = mapped_column(Id)
    customer_id: Mapped[int] = mapped_column(Id)
    step: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(8))
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None]
    # A claim: state `sending` until this time, by this worker. A claim that
    # outlives its lease is a crashed worker: the send becomes `unknown`.
    lease_expires_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    # Set (and committed) just before the provider call: a claim that expires
    # without it provably never reached a provider and may be queued again.
    handed_at: Mapped[datetime | None]
    # What providers and our tracking said since (the event ledger has all of
    # it): `delivery` only moves up the rank of engine.core.tracking.events,
    # so a late "delivered" never overwrites a bounce; first human open/click.
    delivery: Mapped[str | None] = mapped_column(String(16))
    delivery_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    clicked_at: Mapped[datetime | None]
    # A follow-up that is pointless once late: the dispatcher skips it after this.
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    __table_args__ = (
        UniqueConstraint("contact_id", "step", name="uq_sends_contact_step"),
        # The dispatcher claims due rows by state and time.
        Index("ix_sends_due", "state", "due_at"),
        # Frequency caps count a customer's recent sends on a channel.
        Index("ix_sends_customer_channel", "customer_id", "channel", "due_at"),
        # Follow-up passes read one step's sends by the time they went out.
        Index("ix_sends_step_sent", "campaign_id", "step", "sent_at"),
        CheckConstraint(
            "state IN ('queued', 'sending', 'sent', 'failed', 'unknown', 'skipped', 'cancelled')",
            name="state",
        ),
    )


class Response(Base):
    """A business outcome (purchase, code redemption, reply, call disposition).

    Stored once per (source, source_ref, kind) whatever arrives twice, and
    credited to at most one contact (treated or control): `attribution` is
    ``direct`` (it carried a response code, keycode or send id), ``inferred``
    (matched by customer inside a response window) or ``none`` (outside
    every window: kept, unattributed).
    """

    __tablename__ = "responses"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source: Mapped[str] = mapped_column(String(100))  # shop, pos, twilio, calls, import:<batch>
    source_ref: Mapped[str] = mapped_column(String(200))  # order id, message sid: the dedupe key
    kind: Mapped[str] = mapped_column(
        String(32)
    )  # purchase | code_redeemed | reply | call_disposition
    customer_id: Mapped[int | None] = mapped_column(Id)  # no foreign key: see migration 0011
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    send_id: Mapped[int | None] = mapped_column(ForeignKey("sends.id"))
    attribution: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    value_cents: Mapped[int | None] = mapped_column(Big)  # in the base currency
    code: Mapped[str | None] = mapped_column(String(64))  # response code or keycode given
    value: Mapped[str | None] = mapped_column(String(200))  # a rating "4", a disposition
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    __table_args__ = (
        UniqueConstraint("source", "source_ref", "kind", name="uq_responses_source_ref"),
        Index("ix_responses_customer", "customer_id", "occurred_at"),
        Index("ix_responses_contact", "contact_id"),
        CheckConstraint("attribution IN ('direct', 'inferred', 'none')", name="attribution"),
    )


class FollowupMark(Base):
    """How far one follow-up rule has been evaluated (engine.db.followups).

    `event_id`: events (or responses, for ``responded``) up to this id are
    done; `checked_at`: the `now` of the rule's last pass.
    """

    __tablename__ = "followup_marks"
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    step: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[int | None] = mapped_column(Big)
    checked_at: Mapped[datetime | None]
