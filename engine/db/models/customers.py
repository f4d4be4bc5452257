"""Tables of the customer database: who the customers are and what they bought."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.models.base import Base
from engine.db.types import Big, Id


class ImportBatch(Base):
    """One run of `campaign import`: what was read, what it did."""

    __tablename__ = "import_batches"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # customers | orders
    source_name: Mapped[str] = mapped_column(String(100))
    origin: Mapped[str] = mapped_column(String(16))
    file_name: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    rows_read: Mapped[int] = mapped_column(default=0)
    rows_inserted: Mapped[int] = mapped_column(default=0)
    rows_merged: Mapped[int] = mapped_column(default=0)
    rows_unchanged: Mapped[int] = mapped_column(default=0)
    rows_rejected: Mapped[int] = mapped_column(default=0)
    rejects_path: Mapped[str | None] = mapped_column(String(500))


class Customer(Base):
    """One real person or company contact, after de-duplication."""

    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # Looked up through customer_sources (source, ref), which is indexed.
    external_id: Mapped[str | None] = mapped_column(String(100))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    address_line1: Mapped[str | None] = mapped_column(String(300))
    address_line2: Mapped[str | None] = mapped_column(String(300))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    timezone: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16))
    birth_date: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(16))
    income_band: Mapped[str | None] = mapped_column(String(32))
    occupation: Mapped[str | None] = mapped_column(String(100))
    company_name: Mapped[str | None] = mapped_column(String(300))
    industry: Mapped[str | None] = mapped_column(String(100))
    company_size: Mapped[str | None] = mapped_column(String(32))
    contact_role: Mapped[str | None] = mapped_column(String(100))
    household_key: Mapped[str | None] = mapped_column(String(100))
    origin: Mapped[str] = mapped_column(String(16))  # internal | external (best of its sources)
    source_name: Mapped[str] = mapped_column(String(100))  # the source that created it
    # The import run that created it. No foreign keys on the bookkeeping
    # batch ids (migration 0009): `campaign db check` proves they hold.
    import_batch_id: Mapped[int | None] = mapped_column(Id)
    trust: Mapped[int]  # 0-100, the highest of its sources
    data_as_of: Mapped[datetime]  # time of the newest record merged in
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    __table_args__ = (CheckConstraint("origin IN ('internal', 'external')", name="origin"),)


class CustomerSource(Base):
    """Provenance: each source (and its external id) that described a customer."""

    __tablename__ = "customer_sources"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Id)  # no foreign key: see migration 0009
    source_name: Mapped[str] = mapped_column(String(100))
    origin: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str] = mapped_column(String(100), default="")  # '' when the row had none
    trust: Mapped[int]
    import_batch_id: Mapped[int] = mapped_column(Id)  # no foreign key: see Customer
    first_seen_at: Mapped[datetime]
    __table_args__ = (
        # An external id names one customer within its source.
        Index(
            "uq_customer_sources_ref",
            "source_name",
            "source_ref",
            unique=True,
            sqlite_where=text("source_ref <> ''"),
            postgresql_where=text("source_ref <> ''"),
        ),
        # Also the index for "the sources of this customer" (leading column).
        UniqueConstraint("customer_id", "source_name", "source_ref", name="uq_customer_sources"),
    )


class Consent(Base):
    """Append-only consent ledger: the latest row per customer and channel wins."""

    __tablename__ = "consents"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Id)  # no foreign key: see migration 0009
    channel: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))  # granted | withdrawn
    recorded_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(100))
    evidence: Mapped[str] = mapped_column(String(500))
    __table_args__ = (
        Index("ix_consents_customer_channel", "customer_id", "channel", "id"),
        CheckConstraint("status IN ('granted', 'withdrawn')", name="status"),
        CheckConstraint("channel IN ('email', 'sms', 'mail', 'call')", name="channel"),
    )


class Suppression(Base):
    """Who or what must not be contacted on a channel, and why."""

    __tablename__ = "suppressions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))  # email | sms | mail | call | all
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), index=True)  # sha256 of kind:value
    kind: Mapped[str] = mapped_column(String(16))  # customer | email | phone | address
    reason: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    __table_args__ = (
        CheckConstraint("customer_id IS NOT NULL OR token_hash IS NOT NULL", name="target"),
    )


class Order(Base):
    """A purchase: the raw material of RFM metrics and of responses."""

    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # No foreign keys (migration 0009): an import checked them row by row for
    # millions of orders whose customer it had just joined; `campaign db
    # check` proves they hold.
    customer_id: Mapped[int] = mapped_column(Id)
    source_name: Mapped[str] = mapped_column(String(100))
    external_order_id: Mapped[str] = mapped_column(String(100))
    ordered_at: Mapped[datetime]
    amount_cents: Mapped[int] = mapped_column(Big)  # hundredths of `currency`
    currency: Mapped[str] = mapped_column(String(3))
    base_amount_cents: Mapped[int] = mapped_column(Big)  # in the configured base currency
    quantity: Mapped[int]
    channel: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(100))
    brand: Mapped[str | None] = mapped_column(String(100))
    import_batch_id: Mapped[int | None] = mapped_column(Id)
    __table_args__ = (
        UniqueConstraint("source_name", "external_order_id", name="uq_orders_source_order"),
        # Responses look up a customer's orders by time; with the amount it also
        # covers the metrics aggregation, which then never reads the table.
        Index("ix_orders_customer_time", "customer_id", "ordered_at", "base_amount_cents"),
    )


class CustomerMetrics(Base):
    """Derived per-customer figures, rebuilt by `campaign metrics refresh`."""

    __tablename__ = "customer_metrics"
    # No foreign key on purpose: the table is rebuilt from `customers` in one
    # statement, and a per-row key check doubled the refresh on PostgreSQL.
    # Whoever deletes a customer (erasure) deletes its metrics row too.
    customer_id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=False)
    as_of: Mapped[datetime]
    first_order_at: Mapped[datetime | None]
    last_order_at: Mapped[datetime | None]
    recency_days: Mapped[int | None]
    frequency: Mapped[int]
    monetary_cents: Mapped[int] = mapped_column(Big)
    avg_order_cents: Mapped[int | None] = mapped_column(Big)
    r_score: Mapped[int | None]
    f_score: Mapped[int | None]
    m_score: Mapped[int | None]
    rfm_segment: Mapped[str | None] = mapped_column(String(32))
    lifecycle: Mapped[str] = mapped_column(String(16))
    value_tier: Mapped[str | None] = mapped_column(String(16))
