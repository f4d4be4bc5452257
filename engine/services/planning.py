"""Use case `plan_campaign`: what a campaign would do, written nowhere.

The audience is screened in the database (one grouped scan), the cells are
sized from their shares, each step is timed and priced, one sample message
per test cell is rendered for a real eligible customer, and the warnings
include the smallest lift the planned control group could detect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from engine.core.campaign.assign import SplitRule, groups_salt, split_rule
from engine.core.campaign.eligibility import AudienceRules, ChannelRule, Funnel, Overview, Policy
from engine.core.campaign.launch import Launched
from engine.core.campaign.preview import (
    SAMPLE_CUSTOMER,
    SAMPLE_METRICS,
    SAMPLE_RESPONSE_CODE,
    first_send,
    message_variables,
    minimum_detectable_lift,
)
from engine.core.campaign.spec import AfterEntry, AfterStep, CampaignSpec, NoEvent, OnEvent
from engine.core.campaign.values import format_duration
from engine.core.messages import Rendered, sms_length
from engine.errors import TemplateError
from engine.services.validation import Checked, Renderer


class Audience(Protocol):
    def overview(
        self,
        rules: AudienceRules,
        follow_ups: Sequence[ChannelRule],
        window: timedelta,
        split: SplitRule,
        samples: int,
    ) -> Overview: ...


class History(Protocol):
    def find(self, key: str) -> Launched | None: ...


@dataclass(frozen=True)
class CellPlan:
    code: str
    control: bool
    share: Decimal
    size: int


@dataclass(frozen=True)
class StepPlan:
    id: str
    channel: str
    template: str
    trigger: str
    volume: int  # messages (an upper bound for follow-ups)
    follow_up: bool
    first_send: datetime | None  # campaign timezone; None for follow-ups
    cost: Decimal


@dataclass(frozen=True)
class Sample:
    cell: str
    step: str
    message: Rendered


@dataclass(frozen=True)
class Plan:
    key: str
    name: str
    now: datetime
    timezone: str
    channels: tuple[str, ...]
    funnel: Funnel
    cells: tuple[CellPlan, ...]
    steps: tuple[StepPlan, ...]
    currency: str
    baseline_rate: float | None
    min_detectable_lift: float | None
    samples: tuple[Sample, ...]
    warnings: tuple[str, ...] = field(default=())

    def cost_by_channel(self) -> dict[str, Decimal]:
        costs: dict[str, Decimal] = {}
        for step in self.steps:
            costs[step.channel] = costs.get(step.channel, Decimal(0)) + step.cost
        return costs


def plan_campaign(
    checked: Checked,
    policy: Policy,
    audience: Audience,
    renderer: Renderer,
    now: datetime,
    history: History | None = None,
) -> Plan:
    """The plan of a validated campaign at `now` (relative dates resolve against it).

    With `history`, cell sizes are the exact counts a launch would assign now
    (same hash, same SQL), and a campaign already launched under this key is
    compared: the same split is reported, a changed one is a warning.
    """
    spec = checked.spec
    zone_name = spec.schedule.timezone or policy.timezone
    zone = ZoneInfo(zone_name)
    channels = spec.entry_channels()
    caps = {channel: (cap.count, cap.days) for channel, cap in spec.caps.items()}
    rules = policy.rules(spec.audience.segment, channels, caps, now, zone)
    others = sorted({step.channel for step in spec.steps} - set(channels))
    follow_ups = policy.rules(spec.audience.segment, others, caps, now, zone).channels
    seen = audience.overview(
        rules, follow_ups, spec.response.window, split_rule(spec), len(spec.groups.cells)
    )
    funnel, eligible = seen.funnel, seen.funnel.eligible
    cells = _cells(spec, seen.cells)
    treated = {cell.code: cell.size for cell in cells if not cell.control}
    control = next(cell.size for cell in cells if cell.control)
    samples = _samples(spec, seen.samples, renderer)
    # follow-ups on other channels reach only those also contactable there
    reach = {channel: 1.0 for channel in channels}
    reach |= {ch: seen.reach[ch] / eligible if eligible else 0.0 for ch in others}
    steps = _steps(spec, treated, reach, now, zone, samples)
    rate = seen.buyers / eligible if eligible else None
    mde = minimum_detectable_lift(rate or 0.0, control, min(treated.values(), default=0))
    notes = _launched_notes(spec, history.find(spec.key)) if history else []
    warnings = [*notes, *checked.warnings, *_warnings(spec, funnel, control, rate, mde)]
    return Plan(
        key=spec.key,
        name=spec.name,
        now=now,
        timezone=zone_name,
        channels=tuple(channels),
        funnel=funnel,
        cells=tuple(cells),
        steps=tuple(steps),
        currency=spec.costs.currency or policy.currency,
        baseline_rate=rate,
        min_detectable_lift=mde,
        samples=tuple(samples),
        warnings=tuple(warnings),
    )


def _launched_notes(spec: CampaignSpec, launched: Launched | None) -> list[str]:
    if launched is None:
        return []
    salt = groups_salt(spec)
    if launched.salt != salt:
        return [
            f"{spec.key} is already launched with another split (salt {launched.salt}, now "
            f"{salt}): launch will refuse it; give the new version a new key"
        ]
    return [f"{spec.key} is already launched ({launched.status}): launch will add nothing"]


def _cells(spec: CampaignSpec, sizes: dict[str, int]) -> list[CellPlan]:
    codes = ["control", *spec.groups.cells]
    shares = [spec.groups.control, *(cell.share for cell in spec.groups.cells.values())]
    return [
        CellPlan(code, code == "control", share, sizes.get(code, 0))
        for code, share in zip(codes, shares, strict=True)
    ]


def _steps(
    spec: CampaignSpec,
    treated: dict[str, int],
    reach: dict[str, float],
    now: datetime,
    zone: ZoneInfo,
    samples: list[Sample],
) -> list[StepPlan]:
    start = spec.schedule.start or now.astimezone(zone).replace(tzinfo=None)
    if start.tzinfo is None:
        start = start.replace(tzinfo=zone)
    opens = first_send(max(start, now.astimezone(zone)), spec.schedule.windows)
    plans = []
    for step in spec.steps:
        volume = round(
            reach[step.channel]
            * sum(
                size
                for code, size in treated.items()
                if spec.groups.cells[code].steps is None
                or step.id in (spec.groups.cells[code].steps or [])
            )
        )
        # an SMS is billed per segment; the longest sample sets the estimate
        segments = (
            max(
                (sms_length(s.message.text).segments for s in samples if s.step == step.id),
                default=1,
            )
            if step.channel == "sms"
            else 1
        )
        plans.append(
            StepPlan(
                id=step.id,
                channel=step.channel,
                template=step.template,
                trigger=describe_trigger(step.when),
                volume=volume,
                follow_up=step.when is not None,
                first_send=None if step.when else opens,
                cost=spec.costs.per(step.channel) * volume * segments,
            )
        )
    return plans


def describe_trigger(trigger: OnEvent | NoEvent | AfterStep | AfterEntry | None) -> str:
    """A trigger in words, for plans."""
    match trigger:
        case None:
            return "at launch"
        case OnEvent():
            delay = f", then wait {format_duration(trigger.delay)}" if trigger.delay else ""
            return f"{trigger.event} {trigger.step} within {format_duration(trigger.within)}{delay}"
        case NoEvent():
            return f"not {trigger.event} {trigger.step} after {format_duration(trigger.after)}"
        case AfterStep():
            return f"{format_duration(trigger.delay)} after {trigger.after}"
        case AfterEntry():
            return f"{format_duration(trigger.after_entry)} after entry"


def _samples(
    spec: CampaignSpec, found: list[tuple[dict[str, Any], dict[str, Any]]], renderer: Renderer
) -> list[Sample]:
    """One message per test cell: its first step, for a real eligible customer if any."""
    samples = []
    for index, (code, cell) in enumerate(spec.groups.cells.items()):
        step = next(
            (s for s in spec.first_steps() if cell.steps is None or s.id in cell.steps), None
        )
        if step is None:
            continue
        customer, metrics = (
            found[index] if index < len(found) else (SAMPLE_CUSTOMER, SAMPLE_METRICS)
        )
        variables = message_variables(spec, code, customer, metrics, SAMPLE_RESPONSE_CODE)
        try:
            message = renderer.render(step.channel, step.template, variables)
        except TemplateError as exc:  # a real customer's data can break what a sample did not
            message = Rendered(step.channel, f"(cannot render: {exc})")
        samples.append(Sample(code, step.id, message))
    return samples


def _warnings(
    spec: CampaignSpec, funnel: Funnel, control: int, rate: float | None, mde: float | None
) -> list[str]:
    warnings = []
    if funnel.eligible == 0:
        warnings.append("nobody is eligible: check the segment and the exclusions above")
    elif rate == 0:
        warnings.append(
            f"no eligible customer ordered in the last {format_duration(spec.response.window)}: "
            "the baseline response rate is unknown, so is the detectable lift"
        )
    if mde is not None and rate:
        warnings.append(
            f"with {control:,} in control and a baseline response rate of {rate:.2%}, lifts "
            f"smaller than {mde * 100:.2f} points ({mde / rate:.0%} relative) are unlikely to "
            "be detected (80% power, 5% significance)"
        )
    if spec.groups.control > 0 and 0 < control < 100:
        warnings.append(f"the control group has only {control} customers")
    return warnings
