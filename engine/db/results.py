"""Named SQL of campaign results: what a report counts, per cell, in a few statements.

Every statement reads one campaign: contacts through the campaign prefix of
`uq_contacts_campaign_customer`, events through `ix_events_campaign_kind`,
sends and responses by their `campaign_id` column, joined to contacts by
primary key. Each is grouped in the database (no row per contact comes
back); `engine.services.reporting` assembles the report from the results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, RowMapping, TextClause, bindparam, select, text

from engine.core.results import CampaignRecord, CellTally, DailyResponders, StepTally
from engine.db.models import Campaign, Cell
from engine.db.types import UTCDateTime

# A send "went" when the provider took it, or may have (`unknown` is
# reconciled later, never retried): what costs money and what ITT counts.
WENT = "('sent', 'unknown')"
DELIVERED = "('delivered', 'read')"
UNDELIVERED = "('bounced', 'blocked', 'dropped', 'undelivered', 'failed', 'returned')"

CONTACT_FIGURES = text(
    f"""
    SELECT c.cell_id,
           COUNT(*) AS assigned,
           SUM(CASE WHEN c.status = 'treated' THEN 1 ELSE 0 END) AS treated,
           COALESCE(SUM(s.sent), 0) AS sent,
           COALESCE(SUM(s.delivered), 0) AS delivered,
           COALESCE(SUM(s.bounced), 0) AS bounced,
           COALESCE(SUM(s.opened), 0) AS opened,
           COALESCE(SUM(s.clicked), 0) AS clicked
    FROM contacts AS c
    LEFT JOIN (
        SELECT contact_id,
               MAX(CASE WHEN state IN {WENT} THEN 1 ELSE 0 END) AS sent,
               MAX(CASE WHEN delivery IN {DELIVERED} THEN 1 ELSE 0 END) AS delivered,
               MAX(CASE WHEN delivery IN {UNDELIVERED} THEN 1 ELSE 0 END) AS bounced,
               MAX(CASE WHEN opened_at IS NOT NULL THEN 1 ELSE 0 END) AS opened,
               MAX(CASE WHEN clicked_at IS NOT NULL THEN 1 ELSE 0 END) AS clicked
        FROM sends
        WHERE campaign_id = :campaign
        GROUP BY contact_id
    ) AS s ON s.contact_id = c.id
    WHERE c.campaign_id = :campaign AND c.status IN ('treated', 'held_out')
    GROUP BY c.cell_id
    """
)
"""Per cell: assigned and treated contacts, and contacts whose sends went, were
delivered, failed delivery, were opened (by a human) or clicked. Sends are
folded per contact first, so a customer with two e-mails counts once."""

OPT_OUTS = text(
    """
    SELECT c.cell_id,
           COUNT(DISTINCT CASE WHEN e.kind IN ('unsubscribed', 'group_unsubscribed')
                               THEN c.id END) AS unsubscribed,
           COUNT(DISTINCT CASE WHEN e.kind = 'complained' THEN c.id END) AS complained
    FROM events AS e
    JOIN sends AS s ON s.id = e.send_id
    JOIN contacts AS c ON c.id = s.contact_id
    WHERE e.campaign_id = :campaign
      AND e.kind IN ('unsubscribed', 'group_unsubscribed', 'complained')
      AND c.status IN ('treated', 'held_out')
    GROUP BY c.cell_id
    """
)
"""Per cell: contacts with an unsubscribe (or group unsubscribe) and with a spam
complaint on one of their sends; `ix_events_campaign_kind` finds the few events."""

RESPONDERS = text(
    f"""
    SELECT c.cell_id,
           COUNT(*) AS responders,
           SUM(CASE WHEN EXISTS (
                   SELECT 1 FROM sends AS s
                   WHERE s.contact_id = c.id AND s.delivery IN {DELIVERED}
               ) THEN 1 ELSE 0 END) AS delivered_responders,
           SUM(r.revenue) AS revenue_cents,
           SUM(r.revenue * r.revenue) AS revenue_squares
    FROM (
        SELECT contact_id, SUM(COALESCE(value_cents, 0)) AS revenue
        FROM responses
        WHERE campaign_id = :campaign AND contact_id IS NOT NULL AND kind IN :kinds
        GROUP BY contact_id
    ) AS r
    JOIN contacts AS c ON c.id = r.contact_id
    WHERE c.status IN ('treated', 'held_out')
    GROUP BY c.cell_id
    """
).bindparams(bindparam("kinds", expanding=True))
"""Per cell: responders (contacts with a credited response of a counted kind),
those of them with a delivered send (`uq_sends_contact_step` seek each),
revenue and the sum of each responder's revenue squared. Unattributed
responses (no contact) and other kinds are not counted."""

FUNNEL = text(
    f"""
    SELECT s.step, s.channel, c.cell_id, s.state,
           CASE WHEN s.state = 'skipped' THEN COALESCE(s.last_error, 'unknown') END AS reason,
           COUNT(*) AS sends,
           SUM(CASE WHEN s.delivery IN {DELIVERED} THEN 1 ELSE 0 END) AS delivered,
           SUM(CASE WHEN s.delivery IN {UNDELIVERED} THEN 1 ELSE 0 END) AS bounced,
           SUM(CASE WHEN s.opened_at IS NOT NULL THEN 1 ELSE 0 END) AS opened,
           SUM(CASE WHEN s.clicked_at IS NOT NULL THEN 1 ELSE 0 END) AS clicked
    FROM sends AS s
    JOIN contacts AS c ON c.id = s.contact_id
    WHERE s.campaign_id = :campaign
    GROUP BY s.step, s.channel, c.cell_id, s.state,
             CASE WHEN s.state = 'skipped' THEN COALESCE(s.last_error, 'unknown') END
    """
)
"""Sends per step, channel, cell and state (skipped ones by reason), with how
many were delivered, bounced, opened by a human and clicked."""


def _day(dialect: str) -> str:
    """Whole days from :launched to `first_at`, in each database's date arithmetic."""
    if dialect == "sqlite":
        return "CAST(julianday(first_at) - julianday(:launched) AS INTEGER)"
    return "CAST(FLOOR(EXTRACT(EPOCH FROM (first_at - :launched)) / 86400) AS INTEGER)"


def _by_day(dialect: str) -> TextClause:
    """Per cell and day since launch: contacts whose first credited response came that day."""
    return text(
        f"""
        SELECT cell_id, {_day(dialect)} AS day, COUNT(*) AS responders
        FROM (
            SELECT c.cell_id, MIN(r.occurred_at) AS first_at
            FROM responses AS r
            JOIN contacts AS c ON c.id = r.contact_id
            WHERE r.campaign_id = :campaign AND r.contact_id IS NOT NULL
              AND r.kind IN :kinds AND c.status IN ('treated', 'held_out')
            GROUP BY r.contact_id, c.cell_id
        ) AS f
        GROUP BY cell_id, {_day(dialect)}
        ORDER BY cell_id, day
        """
    ).bindparams(bindparam("kinds", expanding=True), bindparam("launched", type_=UTCDateTime()))


@dataclass(frozen=True)
class SqlResults:
    """The counts of a campaign report, read from the database."""

    engine: Engine

    def find(self, key: str) -> CampaignRecord | None:
        """The campaign with `key`, None when none was launched."""
        with self.engine.connect() as conn:
            row = conn.execute(_CAMPAIGNS.where(Campaign.key == key)).first()
        return None if row is None else CampaignRecord(*row)

    def campaigns(self) -> list[CampaignRecord]:
        """Every launched campaign, newest launch first."""
        with self.engine.connect() as conn:
            rows = conn.execute(_CAMPAIGNS.order_by(Campaign.id.desc())).all()
        return [CampaignRecord(*row) for row in rows]

    def cells(self, campaign_id: int, kinds: Sequence[str]) -> list[CellTally]:
        """Every cell of the campaign (control first), with its customer counts."""
        params = {"campaign": campaign_id, "kinds": list(kinds)}
        with self.engine.connect() as conn:
            cells = _cells(conn, campaign_id)
            figures: dict[int, dict[str, int]] = {cell_id: {} for cell_id in cells}
            for statement in (CONTACT_FIGURES, OPT_OUTS, RESPONDERS):
                for row in conn.execute(statement, params).mappings():
                    fields = dict(row)
                    figures[fields.pop("cell_id")].update(
                        {name: int(value or 0) for name, value in fields.items()}
                    )
        return [
            CellTally(code=code, control=control, share=share, **figures[cell_id])
            for cell_id, (code, control, share) in cells.items()
        ]

    def funnel(self, campaign_id: int) -> list[StepTally]:
        """Messages per step, channel and cell by state (ordered by step, channel, cell id)."""
        with self.engine.connect() as conn:
            cells = _cells(conn, campaign_id)
            rows = conn.execute(FUNNEL, {"campaign": campaign_id}).mappings().all()
        tallies: dict[tuple[str, str, int], _Step] = {}
        for row in rows:
            key = (row["step"], row["channel"], row["cell_id"])
            tallies.setdefault(key, _Step()).add(row)
        return [
            tally.value(step, channel, cells[cell_id][0])
            for (step, channel, cell_id), tally in sorted(tallies.items())
        ]

    def responders_by_day(
        self, campaign_id: int, kinds: Sequence[str], launched_at: datetime
    ) -> list[DailyResponders]:
        """New responders per cell and day since launch (first credited response)."""
        params = {"campaign": campaign_id, "kinds": list(kinds), "launched": launched_at}
        with self.engine.connect() as conn:
            cells = _cells(conn, campaign_id)
            rows = conn.execute(_by_day(conn.dialect.name), params).all()
        return [DailyResponders(cells[cell_id][0], int(day), int(n)) for cell_id, day, n in rows]


_CAMPAIGNS = select(
    Campaign.id,
    Campaign.key,
    Campaign.name,
    Campaign.kind,
    Campaign.status,
    Campaign.spec_yaml,
    Campaign.starts_at,
    Campaign.launched_at,
)


def _cells(conn: Connection, campaign_id: int) -> dict[int, tuple[str, bool, float]]:
    """Cell id -> (code, is control, share), control cells first."""
    rows = conn.execute(
        select(Cell.id, Cell.code, Cell.is_control, Cell.share)
        .where(Cell.campaign_id == campaign_id)
        .order_by(Cell.is_control.desc(), Cell.id)
    )
    return {cell_id: (code, bool(control), float(share)) for cell_id, code, control, share in rows}


@dataclass
class _Step:
    """A step tally being folded from FUNNEL rows (one row per state and reason)."""

    counts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def add(self, row: RowMapping) -> None:
        sends = int(row["sends"])
        if row["state"] == "skipped":
            self.skipped[row["reason"]] = self.skipped.get(row["reason"], 0) + sends
            return
        # `sending` is still to go; `unknown` went (it may be reconciled, never resent)
        column = {"sending": "queued", "unknown": "sent"}.get(row["state"], row["state"])
        names = [
            column,
            *(("delivered", "bounced", "opened", "clicked") if column == "sent" else ()),
        ]
        for name in names:
            value = sends if name == column else int(row[name] or 0)
            self.counts[name] = self.counts.get(name, 0) + value

    def value(self, step: str, channel: str, cell: str) -> StepTally:
        return StepTally(
            step, channel, cell, skipped=tuple(sorted(self.skipped.items())), **self.counts
        )
