"""What the database counts for a campaign report (pure values, no IO).

`engine.db.results` fills these with a handful of grouped statements;
`engine.services.reporting` turns them into `CellCounts` and a report.
Customer figures count contacts (one per customer per campaign entry);
funnel and cost figures count messages (sends).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    """A launched campaign as stored (its file is `spec_yaml`)."""

    id: int
    key: str
    name: str
    kind: str
    status: str
    spec_yaml: str
    starts_at: datetime
    launched_at: datetime | None


@dataclass(frozen=True, slots=True)
class CellTally:
    """One cell's counts. Every figure counts customers (contacts), not messages.

    `assigned` = treated + held-out contacts (suppressed ones are not in the
    experiment). `sent`..`clicked`: contacts with at least one send that went
    (state sent or unknown), was delivered (delivery delivered or read),
    failed delivery (bounced, blocked, dropped, undelivered, failed,
    returned), was opened by a human (machine opens never set `opened_at`),
    was clicked. `unsubscribed` / `complained`: contacts with such an event
    on one of their sends. `responders`: assigned contacts with at least one
    credited response of a kind in `response.events`; `revenue_cents` the
    sum of those responses' value, `revenue_squares` the sum over contacts
    of each contact's revenue squared (cents²); `delivered_responders`:
    responders with a delivered send.
    """

    code: str
    control: bool
    share: float
    assigned: int = 0
    treated: int = 0
    sent: int = 0
    delivered: int = 0
    bounced: int = 0
    opened: int = 0
    clicked: int = 0
    unsubscribed: int = 0
    complained: int = 0
    responders: int = 0
    delivered_responders: int = 0
    revenue_cents: int = 0
    revenue_squares: int = 0


@dataclass(frozen=True, slots=True)
class StepTally:
    """Messages of one step in one cell, by where they stand (counts of sends).

    `queued` includes sends being claimed (`sending`); `sent` counts sends
    that went (state sent or unknown); `delivered`, `opened` and `clicked`
    are among those; `skipped` maps each reason (consent, suppression, cap,
    ...) to its sends; `failed` counts provider refusals; `cancelled` sends
    of a cancelled campaign.
    """

    step: str
    channel: str
    cell: str
    queued: int = 0
    sent: int = 0
    delivered: int = 0
    bounced: int = 0
    opened: int = 0
    clicked: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: tuple[tuple[str, int], ...] = ()

    @property
    def skipped_total(self) -> int:
        """Sends skipped for any reason."""
        return sum(n for _, n in self.skipped)


@dataclass(frozen=True, slots=True)
class DailyResponders:
    """Responders of a cell whose first credited response came on `day` since launch.

    Day 0 is the first 24 hours after `launched_at`.
    """

    cell: str
    day: int
    responders: int
