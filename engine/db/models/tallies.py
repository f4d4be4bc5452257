"""Report tallies: a campaign's counts per cell, kept up to date by database triggers.

A report over a million contacts cannot group a million rows in two seconds
(SQLite groups by sorting), so the counts it needs are kept as they change.
Triggers on `contacts` and `sends` (migration 0007) add one row per change:

- `contact_tallies`: assigned contacts per cell, status and `reach`, the
  bits of what any of the contact's sends did (engine.db.tallies);
- `send_tallies`: sends per step, cell and code (state, delivery outcome,
  human open, click).

SQLite adds to one row per key (`seq` 0) inside the writing transaction;
PostgreSQL appends a row per statement and key with its own `seq` (no two
transactions wait on one counter), and `engine.db.tallies.compact` folds
them into `seq` 0. A count is the sum of `n` over `seq`.
"""

from __future__ import annotations

from sqlalchemy import SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.models.base import Base
from engine.db.types import Big, Id


class ContactTally(Base):
    """`n` treated or held-out contacts of a campaign's cell with this `reach`."""

    __tablename__ = "contact_tallies"
    campaign_id: Mapped[int] = mapped_column(Id, primary_key=True)
    cell_id: Mapped[int] = mapped_column(Id, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    reach: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    seq: Mapped[int] = mapped_column(Big, primary_key=True)
    n: Mapped[int] = mapped_column(Big)


class SendTally(Base):
    """`n` sends of a campaign's step to one cell's contacts with this code."""

    __tablename__ = "send_tallies"
    campaign_id: Mapped[int] = mapped_column(Id, primary_key=True)
    cell_id: Mapped[int] = mapped_column(Id, primary_key=True)
    step: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    seq: Mapped[int] = mapped_column(Big, primary_key=True)
    n: Mapped[int] = mapped_column(Big)
