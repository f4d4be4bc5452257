"""Named SQL of campaign results: what a report counts, per cell, in a few statements.

Customer and message counts come from the report tallies the database keeps
as contacts and sends change (engine.db.tallies): a few hundred rows,
whatever the audience. The rest reads one campaign's few rows of a kind:
events through `ix_events_campaign_kind`, skipped sends through
`ix_sends_due`, responses by their `campaign_id`, joined to contacts by
primary key. Each is grouped in the database (no row per contact comes
back); `engine.services.reporting` assembles the report from the results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, TextClause, bindparam, select, text

from engine.core.results import CampaignRecord, CellTally, DailyResponders, StepTally
from engine.db import tallies
from engine.db.models import Campaign, Cell
from engine.db.types import UTCDateTime

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
           SUM(CASE WHEN (c.reach & {tallies.DELIVERED}) <> 0 THEN 1 ELSE 0 END)
               AS delivered_responders,
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
those of them with a delivered send (their `reach`, engine.db.tallies),
revenue and the sum of each responder's revenue squared. Unattributed
responses (no contact) and other kinds are not counted."""

SKIPPED = text(
    """
    SELECT s.step, c.cell_id, COALESCE(s.last_error, 'unknown') AS reason, COUNT(*) AS sends
    FROM sends AS s
    JOIN contacts AS c ON c.id = s.contact_id
    WHERE s.state = 'skipped' AND s.campaign_id = :campaign
    GROUP BY s.step, c.cell_id, COALESCE(s.last_error, 'unknown')
    """
)
"""Skipped sends per step, cell and reason; `ix_sends_due` (state first) finds them."""


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

    def counts(
        self, campaign_id: int, kinds: Sequence[str], steps: Sequence[tuple[str, str]]
    ) -> tuple[list[CellTally], list[StepTally]]:
        """Every cell's customer counts (control first) and the funnel of `steps`.

        `steps` are the campaign file's (step id, channel), in its order;
        `kinds` the response kinds that count.
        """
        params: dict[str, Any] = {"campaign": campaign_id, "kinds": list(kinds)}
        tallies.compact(self.engine)
        with self.engine.connect() as conn:
            cells = _cells(conn, campaign_id)
            folded = _Folded(cells, steps)
            for cell_id, status, reach, n in conn.execute(tallies.CONTACTS, params):
                folded.contacts(cell_id, status, int(reach), int(n))
            for step, cell_id, code, n in conn.execute(tallies.SENDS, params):
                folded.sends(step, cell_id, int(code), int(n))
            for step, cell_id, reason, n in conn.execute(SKIPPED, params):
                folded.skip(step, cell_id, reason, int(n))
            for statement in (OPT_OUTS, RESPONDERS):
                for row in conn.execute(statement, params).mappings():
                    fields = dict(row)
                    folded.cells[fields.pop("cell_id")].update(
                        {name: int(value or 0) for name, value in fields.items()}
                    )
        return folded.values()

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


# the funnel column of each send state (`sending` is still to go; `unknown`
# went: it may be reconciled, never resent)
_COLUMN = {"queued": "queued", "sending": "queued", "sent": "sent", "unknown": "sent",
           "failed": "failed", "cancelled": "cancelled"}  # fmt: skip


@dataclass
class _Folded:
    """Customer counts per cell and messages per step, folded from the tallies."""

    names: dict[int, tuple[str, bool, float]]
    steps: Sequence[tuple[str, str]]
    cells: dict[int, dict[str, int]] = field(default_factory=dict)
    funnel: dict[tuple[int, int], dict[str, int]] = field(default_factory=dict)
    skipped: dict[tuple[int, int], dict[str, int]] = field(default_factory=dict)

    def contacts(self, cell_id: int, status: str, reach: int, n: int) -> None:
        """`n` contacts of `cell_id` whose sends together did `reach`."""
        cell = self.cells.setdefault(cell_id, {})
        _bump(cell, "assigned", n)
        if status == "treated":
            _bump(cell, "treated", n)
        if reach & tallies.WENT:  # a customer counts once, however many sends qualify
            _bump(cell, "sent", n)
            for name, bit in tallies.FLAGS:
                if reach & bit:
                    _bump(cell, name, n)

    def sends(self, step: str, cell_id: int, code: int, n: int) -> None:
        """`n` sends of `step` to `cell_id` with this code; skipped ones count by reason."""
        index = self._index(step)
        state = tallies.state_of(code)
        column = _COLUMN.get(state)
        if index is None or column is None:
            return
        counts = self.funnel.setdefault((index, cell_id), {})
        _bump(counts, column, n)
        if column == "sent":
            for name, bit in tallies.FLAGS:
                if code & bit:
                    _bump(counts, name, n)

    def _index(self, step: str) -> int | None:
        return next((i for i, (s, _) in enumerate(self.steps) if s == step), None)

    def skip(self, step: str, cell_id: int, reason: str, n: int) -> None:
        index = self._index(step)
        if index is not None:
            _bump(self.skipped.setdefault((index, cell_id), {}), reason, n)

    def values(self) -> tuple[list[CellTally], list[StepTally]]:
        cells = [
            CellTally(code=code, control=control, share=share, **self.cells.get(cell_id, {}))
            for cell_id, (code, control, share) in self.names.items()
        ]
        funnel = [
            StepTally(
                step=step,
                channel=channel,
                cell=code,
                skipped=tuple(sorted(self.skipped.get((index, cell_id), {}).items())),
                **self.funnel.get((index, cell_id), {}),
            )
            for index, (step, channel) in enumerate(self.steps)
            for cell_id, (code, _, _) in self.names.items()
            if (index, cell_id) in self.funnel or (index, cell_id) in self.skipped
        ]
        return cells, funnel


def _bump(counts: dict[str, int], name: str, n: int) -> None:
    counts[name] = counts.get(name, 0) + n
