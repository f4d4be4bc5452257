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
from typing import Any

from sqlalchemy import Connection, Engine, TextClause, bindparam, select, text

from engine.core.results import CampaignRecord, CellTally, DailyResponders, StepTally
from engine.db.models import Campaign, Cell
from engine.db.types import UTCDateTime

# A send "went" when the provider took it, or may have (`unknown` is
# reconciled later, never retried): what costs money and what ITT counts.
WENT = "('sent', 'unknown')"
DELIVERED = "('delivered', 'read')"
UNDELIVERED = "('bounced', 'blocked', 'dropped', 'undelivered', 'failed', 'returned')"

STATES = ("queued", "sending", "sent", "unknown", "failed", "skipped", "cancelled")
# One small integer per send: its state, delivery outcome, human open and click.
# Grouping by integers, not by text columns, is what keeps SQLite's sorter cheap.
SEND_CODE = (
    "(CASE s.state "
    + " ".join(f"WHEN '{state}' THEN {index}" for index, state in enumerate(STATES, 1))
    + f" ELSE 0 END) * 16 + CASE WHEN s.delivery IN {DELIVERED} THEN 8"
    f" WHEN s.delivery IN {UNDELIVERED} THEN 4 ELSE 0 END"
    " + CASE WHEN s.opened_at IS NOT NULL THEN 2 ELSE 0 END"
    " + CASE WHEN s.clicked_at IS NOT NULL THEN 1 ELSE 0 END"
)


def contact_profiles(steps: int) -> TextClause:
    """Assigned contacts per cell, status and combination of their sends' codes.

    One pass: each assigned contact joined to its sends (`uq_sends_contact_step`
    seeks), folded to one code per step (:step_0, :step_1 ...; NULL: no send),
    then counted per distinct combination: a few hundred rows, whatever the
    audience, from which Python derives both the customer counts (a customer
    with two e-mails counts once) and the per-step funnel. Grouping by the
    contacts' unique key (campaign, customer, entry) lets SQLite stream the
    inner GROUP BY in index order instead of sorting a million rows.
    """
    codes = ", ".join(
        f"MAX(CASE WHEN s.step = :step_{i} THEN {SEND_CODE} END) AS s{i}" for i in range(steps)
    )
    names = "".join(f", s{i}" for i in range(steps))
    return text(
        f"""
        SELECT cell_id, status{names}, COUNT(*) AS contacts
        FROM (
            SELECT MIN(c.cell_id) AS cell_id, MIN(c.status) AS status{", " if steps else ""}{codes}
            FROM contacts AS c
            LEFT JOIN sends AS s ON s.contact_id = c.id
            WHERE c.campaign_id = :campaign AND c.status IN ('treated', 'held_out')
            GROUP BY c.customer_id, c.entry
        ) AS per_contact
        GROUP BY cell_id, status{names}
        """
    )


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
        params |= {f"step_{i}": step for i, (step, _) in enumerate(steps)}
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # the per-contact fold hashes a million groups: keep it in memory
                conn.execute(text("SET LOCAL work_mem = '64MB'"))
            cells = _cells(conn, campaign_id)
            folded = _Folded(cells, steps)
            for row in conn.execute(contact_profiles(len(steps)), params):
                folded.add(row[0], row[1], row[2:-1], int(row[-1]))
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


_FLAGS = (("delivered", 8), ("bounced", 4), ("opened", 2), ("clicked", 1))
# the funnel column of each send state (`sending` is still to go; `unknown`
# went: it may be reconciled, never resent)
_COLUMN = {"queued": "queued", "sending": "queued", "sent": "sent", "unknown": "sent",
           "failed": "failed", "cancelled": "cancelled"}  # fmt: skip


@dataclass
class _Folded:
    """Customer counts per cell and messages per step, folded from `contact_profiles` rows."""

    names: dict[int, tuple[str, bool, float]]
    steps: Sequence[tuple[str, str]]
    cells: dict[int, dict[str, int]] = field(default_factory=dict)
    funnel: dict[tuple[int, int], dict[str, int]] = field(default_factory=dict)
    skipped: dict[tuple[int, int], dict[str, int]] = field(default_factory=dict)

    def add(self, cell_id: int, status: str, codes: Sequence[int | None], n: int) -> None:
        """`n` contacts of `cell_id` whose sends have these codes (None: no send of that step)."""
        cell = self.cells.setdefault(cell_id, {})
        seen: set[str] = set()
        _bump(cell, "assigned", n)
        if status == "treated":
            _bump(cell, "treated", n)
        for index, code in enumerate(codes):
            if code is None:
                continue
            state = STATES[code // 16 - 1] if 1 <= code // 16 <= len(STATES) else "unknown"
            column = _COLUMN.get(state)
            step = self.funnel.setdefault((index, cell_id), {})
            if column is None:  # skipped: counted by reason in `skip`
                continue
            _bump(step, column, n)
            if column != "sent":
                continue
            seen.add("sent")
            for name, bit in _FLAGS:
                if code & bit:
                    _bump(step, name, n)
                    seen.add(name)
        for name in seen:  # a customer counts once, however many of their sends qualify
            _bump(cell, name, n)

    def skip(self, step: str, cell_id: int, reason: str, n: int) -> None:
        index = next((i for i, (s, _) in enumerate(self.steps) if s == step), None)
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
