"""Use cases: `campaign_report` (one campaign's results) and `all_campaigns` (an overview).

The database counts (engine.db.results, a few grouped statements); the
statistics are `engine.core.stats.analyse_campaign` of those counts; this
module only joins them: costs from the campaign file, how much of the
response window has passed, the responders curve, and the warnings a
reader needs before acting on the figures. Money is in the base currency's
minor unit (cents) inside `results`; the report's own money fields say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from engine.core.campaign.launch import Launched
from engine.core.campaign.spec import CampaignSpec
from engine.core.report_rules import (
    CellCost,
    CurvePoint,
    ResponseCurve,
    WindowProgress,
    cell_costs,
    report_notes,
    response_curves,
    window_progress,
)
from engine.core.results import CampaignRecord, CellTally, DailyResponders, StepTally
from engine.core.stats import CampaignResults, CellCounts, ChiSquare, Interval, analyse_campaign
from engine.services.launching import UnknownCampaign, stored_spec

__all__ = [
    "CampaignReport",
    "CampaignSummary",
    "CellCost",
    "CurvePoint",
    "ResponseCurve",
    "Results",
    "WindowProgress",
    "all_campaigns",
    "campaign_report",
]


class Results(Protocol):
    """What the report reads (engine.db.results.SqlResults)."""

    def find(self, key: str) -> CampaignRecord | None: ...
    def campaigns(self) -> list[CampaignRecord]: ...
    def counts(
        self, campaign_id: int, kinds: Sequence[str], steps: Sequence[tuple[str, str]]
    ) -> tuple[list[CellTally], list[StepTally]]: ...
    def responders_by_day(
        self, campaign_id: int, kinds: Sequence[str], launched_at: datetime
    ) -> list[DailyResponders]: ...


@dataclass(frozen=True, slots=True)
class CampaignReport:
    """Everything `campaign report` shows, for one campaign at `now`.

    `results` is the statistics (intent-to-treat headline, delivered basis
    secondary); `tallies` the raw per-cell counts it was computed from;
    `funnel` the messages per step and cell; `curves` the cumulative
    responders per cell by day since launch; `costs` the cost and ROI per
    cell; `notes` the warnings to read before acting.
    """

    key: str
    name: str
    kind: str
    status: str
    now: datetime
    launched_at: datetime | None
    since_launch: timedelta | None
    window: WindowProgress | None
    response_events: tuple[str, ...]
    currency: str | None
    tallies: tuple[CellTally, ...]
    results: CampaignResults
    funnel: tuple[StepTally, ...]
    curves: tuple[ResponseCurve, ...]
    costs: tuple[CellCost, ...]
    notes: tuple[str, ...]

    @property
    def sample_ratio(self) -> ChiSquare | None:
        """Observed cell sizes against planned shares (None with fewer than two shares)."""
        return self.results.sample_ratio


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    """One line of `campaign report --all`: the best test cell's headline lift.

    `best` is the test cell with the highest absolute lift against its
    control (None without a comparison); `lift` and `interval` are its
    intent-to-treat absolute lift and 95% interval, `adjusted_p` Holm's.
    """

    key: str
    name: str
    status: str
    launched_at: datetime | None
    assigned: int
    responders: int
    final: bool
    best: str | None
    lift: float | None
    interval: Interval | None
    relative_lift: float | None
    adjusted_p: float | None
    significant: bool


def campaign_report(store: Results, key: str, now: datetime) -> CampaignReport:
    """The report of campaign `key` at `now`; raises UnknownCampaign when none was launched."""
    record = store.find(key)
    if record is None:
        raise UnknownCampaign(f"no launched campaign {key!r}")
    spec = _spec(record)
    kinds = tuple(spec.response.events)
    tallies, funnel = store.counts(record.id, kinds, _steps(spec))
    costs = cell_costs(spec, tallies, funnel)
    results = analyse_campaign(_counts(tallies, {c.cell: c.cost_cents for c in costs}))
    window = window_progress(record, spec, now)
    days = (
        store.responders_by_day(record.id, kinds, record.launched_at) if record.launched_at else []
    )
    return CampaignReport(
        key=record.key,
        name=record.name,
        kind=record.kind,
        status=record.status,
        now=now,
        launched_at=record.launched_at,
        since_launch=None if record.launched_at is None else now - record.launched_at,
        window=window,
        response_events=kinds,
        currency=spec.costs.currency,
        tallies=tuple(tallies),
        results=results,
        funnel=tuple(funnel),
        curves=response_curves(tallies, days, window, now, record.launched_at),
        costs=costs,
        notes=report_notes(results, window, funnel, tallies),
    )


def all_campaigns(store: Results, now: datetime) -> list[CampaignSummary]:
    """Every launched campaign with its best test cell's lift (newest first)."""
    summaries = []
    for record in store.campaigns():
        spec = _spec(record)
        tallies, _ = store.counts(record.id, tuple(spec.response.events), _steps(spec))
        results = analyse_campaign(_counts(tallies, {}))
        best = max(results.comparisons, key=lambda c: c.absolute_lift, default=None)
        window = window_progress(record, spec, now)
        summaries.append(
            CampaignSummary(
                key=record.key,
                name=record.name,
                status=record.status,
                launched_at=record.launched_at,
                assigned=sum(t.assigned for t in tallies),
                responders=sum(t.responders for t in tallies),
                final=window is not None and window.final,
                best=None if best is None else best.test,
                lift=None if best is None else best.absolute_lift,
                interval=None if best is None else best.absolute_lift_interval,
                relative_lift=None if best is None else best.relative_lift,
                adjusted_p=None if best is None else best.adjusted_p_value,
                significant=best is not None and best.significant,
            )
        )
    return summaries


def _spec(record: CampaignRecord) -> CampaignSpec:
    launched = Launched(
        record.id, record.key, record.kind, record.status, record.spec_yaml, "", "", None,
        record.starts_at, None,
    )  # fmt: skip
    return stored_spec(launched)


def _steps(spec: CampaignSpec) -> list[tuple[str, str]]:
    """(step id, channel) of every step of the campaign file, in its order."""
    return [(step.id, step.channel) for step in spec.steps]


def _counts(tallies: Sequence[CellTally], cost_cents: dict[str, float]) -> list[CellCounts]:
    """The statistics' input: one CellCounts per cell, money in cents."""
    return [
        CellCounts(
            code=t.code,
            assigned=t.assigned,
            responders=t.responders,
            control=t.control,
            share=t.share,
            treated=t.treated,
            sent=t.sent,
            delivered=t.delivered,
            bounced=t.bounced,
            opened=t.opened,
            clicked=t.clicked,
            unsubscribed=t.unsubscribed,
            complained=t.complained,
            delivered_responders=t.delivered_responders,
            revenue=float(t.revenue_cents),
            revenue_squares=float(t.revenue_squares),
            cost=cost_cents.get(t.code, 0.0),
        )
        for t in tallies
    ]
