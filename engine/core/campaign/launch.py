"""Launch values: what a launch hands the database and what it reads back.

Also the pure rules of launching: which status changes are allowed, and
when a trigger campaign's next entry run is due.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from engine.core.campaign.assign import SplitRule
from engine.core.campaign.eligibility import AudienceRules
from engine.core.campaign.spec import Entry as EntrySpec
from engine.core.codes import CodeBook


@dataclass(frozen=True)
class Launched:
    id: int
    key: str
    kind: str
    status: str
    spec_yaml: str
    spec_hash: str
    salt: str
    status_reason: str | None
    starts_at: datetime
    entered_at: datetime | None


@dataclass(frozen=True)
class CellRow:
    code: str
    is_control: bool
    share: float
    vars: dict[str, Any]


@dataclass(frozen=True)
class Entry:
    """One entry run: who is screened, how they are split, what is queued."""

    rules: AudienceRules
    split: SplitRule
    control: str
    record_excluded: bool  # batch launches keep excluded customers for audit
    reenter_after: timedelta | None  # trigger campaigns
    first_steps: list[tuple[str, str, list[str]]]  # (step id, channel, cell codes)
    due_for: Callable[[str | None], datetime]  # customer timezone -> due time
    codes: CodeBook


@dataclass(frozen=True)
class Counts:
    """Where a campaign stands: contacts per cell and status, sends per state."""

    cells: list[tuple[str, bool, float, int]]  # code, is control, share, contacts
    excluded: list[tuple[str, int]]  # reason, contacts
    sends: list[tuple[str, int]]  # state, sends


# status -> the statuses it may change to (`campaign pause|resume|cancel`)
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "scheduled": frozenset({"running", "paused", "cancelled"}),
    "running": frozenset({"paused", "cancelled", "completed"}),
    "paused": frozenset({"running", "cancelled"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
}


def entry_slot(spec: EntrySpec, anchor: datetime, now: datetime, zone: ZoneInfo) -> datetime | None:
    """The latest scheduled entry run at or before `now` (None before the first).

    Runs are `anchor` (the campaign start, moved to `spec.at` local time on its
    day when given) plus whole multiples of `spec.every`.
    """
    first = anchor
    if spec.at is not None:
        local = anchor.astimezone(zone)
        first = datetime.combine(local.date(), spec.at, zone)
        if first < anchor:
            first += timedelta(days=1)
    if now < first:
        return None
    return first + (now - first) // spec.every * spec.every
