"""Use cases: `launch_campaign`, `run_entries` (trigger campaigns) and status changes.

Launching freezes the audience into contact history: every screened customer
gets a contact (treated, held out, or suppressed with its reason), a cell by
the deterministic hash and a response code; treated contacts get queued
sends for the first steps, due at the first send window in their own
timezone. Launching again adds nothing; a changed audience or split is
refused, because it would make test and control incomparable.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.core.campaign.assign import CONTROL, Split, groups_salt, split_rule
from engine.core.campaign.eligibility import Policy
from engine.core.campaign.launch import TRANSITIONS, CellRow, Counts, Entry, Launched, entry_slot
from engine.core.campaign.preview import first_send
from engine.core.campaign.spec import CampaignSpec
from engine.core.codes import CodeBook
from engine.core.stats import ChiSquare, sample_ratio_check
from engine.errors import PermanentError
from engine.services.validation import Checked
from engine.yamldoc import load_yaml


class CampaignChanged(PermanentError):
    """The campaign was launched with another audience or split."""


class UnknownCampaign(PermanentError):
    """No campaign with that key has been launched."""


class Launches(Protocol):
    def find(self, key: str) -> Launched | None: ...
    def create(self, fields: dict[str, Any], cells: list[CellRow]) -> int: ...
    def update(self, campaign_id: int, **fields: Any) -> None: ...
    def enter(self, campaign_id: int, entry: Entry) -> int: ...
    def counts(self, campaign_id: int) -> Counts: ...
    def set_status(
        self, campaign_id: int, status: str, reason: str | None, now: datetime
    ) -> None: ...
    def all(self) -> list[Launched]: ...


@dataclass(frozen=True)
class LaunchReport:
    key: str
    created: bool
    entered: int
    counts: Counts
    sample_ratio: ChiSquare | None
    notes: tuple[str, ...] = ()


def launch_campaign(
    checked: Checked, text: str, policy: Policy, store: Launches, codes: CodeBook, now: datetime
) -> LaunchReport:
    """Launch (or find launched) `checked`; idempotent per campaign key."""
    spec = checked.spec
    zone = ZoneInfo(spec.schedule.timezone or policy.timezone)
    existing = store.find(spec.key)
    if existing is not None:
        notes = _relaunch(existing, spec, text, store, now)
        return _report(spec, existing.id, store, created=False, entered=0, notes=notes)
    start = _start(spec, zone, now)
    campaign_id = store.create(
        {
            "key": spec.key,
            "name": spec.name,
            "kind": "trigger" if spec.entry else "batch",
            "spec_yaml": text,
            "spec_hash": _digest(text),
            "salt": groups_salt(spec),
            "status": "scheduled" if start > now else "running",
            "starts_at": start,
            "launched_at": now,
            "created_at": now,
            "updated_at": now,
        },
        _cells(spec),
    )
    entered = 0
    if spec.entry is None or start <= now:
        entered = store.enter(campaign_id, _entry(spec, policy, codes, zone, max(start, now), now))
    return _report(spec, campaign_id, store, created=True, entered=entered, notes=())


def run_entries(
    store: Launches, policy: Policy, codes: CodeBook, now: datetime
) -> list[LaunchReport]:
    """One entry run for every running trigger campaign whose slot has come."""
    reports = []
    for campaign in store.all():
        if campaign.kind != "trigger" or campaign.status != "running":
            continue
        spec = stored_spec(campaign)
        assert spec.entry is not None  # kind "trigger" is written only with an entry block
        zone = ZoneInfo(spec.schedule.timezone or policy.timezone)
        slot = entry_slot(spec.entry, campaign.starts_at, now, zone)
        if slot is None or (campaign.entered_at is not None and campaign.entered_at >= slot):
            continue
        entered = store.enter(campaign.id, _entry(spec, policy, codes, zone, now, now))
        reports.append(_report(spec, campaign.id, store, created=False, entered=entered, notes=()))
    return reports


def change_status(store: Launches, key: str, status: str, reason: str | None, now: datetime) -> str:
    """Pause, resume or cancel; returns the previous status."""
    campaign = store.find(key)
    if campaign is None:
        raise UnknownCampaign(f"no launched campaign {key!r}")
    if status not in TRANSITIONS[campaign.status]:
        raise PermanentError(f"campaign {key} is {campaign.status}; it cannot become {status}")
    store.set_status(campaign.id, status, reason, now)
    return campaign.status


def stored_spec(campaign: Launched) -> CampaignSpec:
    """The campaign file as launched (validated when it was launched)."""
    return CampaignSpec.model_validate(load_yaml(campaign.spec_yaml, campaign.key).data)


def _relaunch(
    existing: Launched, spec: CampaignSpec, text: str, store: Launches, now: datetime
) -> tuple[str, ...]:
    launched = stored_spec(existing)
    if launched.audience != spec.audience or existing.salt != groups_salt(spec):
        what = "audience rules" if launched.audience != spec.audience else "cells or shares"
        raise CampaignChanged(
            f"campaign {spec.key} was launched with other {what}: changing them now would make "
            "test and control incomparable. Give the new version a new key "
            f"(e.g. {spec.key}-v2) and launch that."
        )
    if existing.spec_hash == _digest(text):
        return ("already launched: nothing added",)
    store.update(existing.id, spec_yaml=text, spec_hash=_digest(text), updated_at=now)
    return (
        "already launched: nothing added; the stored file was updated (steps, templates, costs apply from now on)",
    )


def _report(
    spec: CampaignSpec,
    campaign_id: int,
    store: Launches,
    *,
    created: bool,
    entered: int,
    notes: tuple[str, ...],
) -> LaunchReport:
    counts = store.counts(campaign_id)
    split = Split.of(spec)
    observed = {code: size for code, _, _, size in counts.cells}
    check = sample_ratio_check([observed.get(code, 0) for code in split.codes], split.shares())
    return LaunchReport(spec.key, created, entered, counts, check, notes)


def _cells(spec: CampaignSpec) -> list[CellRow]:
    rows = [CellRow(CONTROL, True, float(spec.groups.control), {})]
    return rows + [
        CellRow(code, False, float(cell.share), dict(cell.vars))
        for code, cell in spec.groups.cells.items()
    ]


def _start(spec: CampaignSpec, zone: ZoneInfo, now: datetime) -> datetime:
    """The schedule start as a UTC instant (naive times are campaign-local)."""
    start = spec.schedule.start
    if start is None:
        return now
    return (start if start.tzinfo else start.replace(tzinfo=zone)).astimezone(UTC)


def _entry(
    spec: CampaignSpec,
    policy: Policy,
    codes: CodeBook,
    zone: ZoneInfo,
    start: datetime,
    now: datetime,
) -> Entry:
    caps = {channel: (cap.count, cap.days) for channel, cap in spec.caps.items()}
    cells_of = {
        step.id: [
            CONTROL,
            *(
                c
                for c, cell in spec.groups.cells.items()
                if cell.steps is None or step.id in cell.steps
            ),
        ]
        for step in spec.first_steps()
    }

    def due_for(timezone: str | None) -> datetime:
        # the first send window at or after the start, in the customer's zone
        try:
            local = ZoneInfo(timezone) if timezone else zone
        except (ZoneInfoNotFoundError, ValueError):
            local = zone
        return first_send(start.astimezone(local), spec.schedule.windows).astimezone(UTC)

    return Entry(
        rules=policy.rules(spec.audience.segment, spec.entry_channels(), caps, now, zone),
        split=split_rule(spec),
        control=CONTROL,
        record_excluded=spec.entry is None,
        reenter_after=spec.entry.reenter_after if spec.entry else None,
        first_steps=[(step.id, step.channel, cells_of[step.id]) for step in spec.first_steps()],
        due_for=due_for,
        codes=codes,
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
