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
from engine.core.campaign.values import format_duration
from engine.core.results import CampaignRecord, CellTally, DailyResponders, StepTally
from engine.core.stats import CampaignResults, CellCounts, ChiSquare, Interval, analyse_campaign
from engine.services.launching import UnknownCampaign, stored_spec


class Results(Protocol):
    """What the report reads (engine.db.results.SqlResults)."""

    def find(self, key: str) -> CampaignRecord | None: ...
    def campaigns(self) -> list[CampaignRecord]: ...
    def cells(self, campaign_id: int, kinds: Sequence[str]) -> list[CellTally]: ...
    def funnel(self, campaign_id: int) -> list[StepTally]: ...
    def responders_by_day(
        self, campaign_id: int, kinds: Sequence[str], launched_at: datetime
    ) -> list[DailyResponders]: ...


@dataclass(frozen=True, slots=True)
class CellCost:
    """What a cell's messages cost: messages that went per channel, in cents of the currency."""

    cell: str
    messages: tuple[tuple[str, int], ...]  # (channel, messages that went)
    cost_cents: float
    revenue_cents: float
    roi: float | None  # (revenue - cost) / cost; None when nothing was spent


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """Responders of a cell up to the end of `day` since launch (day 0 = first 24 h)."""

    day: int
    responders: int
    rate: float | None  # cumulative responders / assigned


@dataclass(frozen=True, slots=True)
class ResponseCurve:
    """A cell's cumulative responders, one point per day since launch."""

    cell: str
    points: tuple[CurvePoint, ...]


@dataclass(frozen=True, slots=True)
class WindowProgress:
    """How much of the response window has passed.

    The window opens at the campaign start (the later of `starts_at` and
    the launch); each contact's own window opens at its first send, so a
    contact sent later is counted a little longer. `final` is True once the
    window is over for a batch campaign; a running trigger campaign keeps
    entering customers, so it is never final.
    """

    window: timedelta
    opens_at: datetime
    closes_at: datetime
    elapsed: float  # fraction of the window passed, 0..1
    final: bool


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
    tallies = store.cells(record.id, kinds)
    funnel = _in_order(store.funnel(record.id), spec, tallies)
    costs = _costs(spec, tallies, funnel)
    results = analyse_campaign(_counts(tallies, {c.cell: c.cost_cents for c in costs}))
    window = _window(record, spec, now)
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
        curves=_curves(tallies, days, window, now),
        costs=costs,
        notes=_notes(results, window, funnel, tallies),
    )


def all_campaigns(store: Results, now: datetime) -> list[CampaignSummary]:
    """Every launched campaign with its best test cell's lift (newest first)."""
    summaries = []
    for record in store.campaigns():
        spec = _spec(record)
        tallies = store.cells(record.id, tuple(spec.response.events))
        results = analyse_campaign(_counts(tallies, {}))
        best = max(results.comparisons, key=lambda c: c.absolute_lift, default=None)
        window = _window(record, spec, now)
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


def _costs(
    spec: CampaignSpec, tallies: Sequence[CellTally], funnel: Sequence[StepTally]
) -> tuple[CellCost, ...]:
    """Per-message cost of each channel × messages that went (SMS segments not counted)."""
    out = []
    for tally in tallies:
        messages: dict[str, int] = {}
        for step in funnel:
            if step.cell == tally.code and step.sent:
                messages[step.channel] = messages.get(step.channel, 0) + step.sent
        cost = sum((float(spec.costs.per(c)) * 100 * n for c, n in messages.items()), 0.0)
        revenue = float(tally.revenue_cents)
        out.append(
            CellCost(
                cell=tally.code,
                messages=tuple(sorted(messages.items())),
                cost_cents=cost,
                revenue_cents=revenue,
                roi=(revenue - cost) / cost if cost > 0 else None,
            )
        )
    return tuple(out)


def _in_order(
    funnel: Sequence[StepTally], spec: CampaignSpec, tallies: Sequence[CellTally]
) -> list[StepTally]:
    """Steps in the campaign file's order (unknown steps last), cells as in the cells table."""
    steps = {step.id: index for index, step in enumerate(spec.steps)}
    cells = {tally.code: index for index, tally in enumerate(tallies)}
    return sorted(
        funnel, key=lambda s: (steps.get(s.step, len(steps)), s.step, cells.get(s.cell, 0))
    )


def _window(record: CampaignRecord, spec: CampaignSpec, now: datetime) -> WindowProgress | None:
    """The response window's progress; None before launch."""
    if record.launched_at is None:
        return None
    opens = max(record.starts_at, record.launched_at)
    length = spec.response.window
    elapsed = min(max((now - opens) / length, 0.0), 1.0) if length > timedelta(0) else 1.0
    ongoing = record.kind == "trigger" and record.status in ("scheduled", "running", "paused")
    return WindowProgress(length, opens, opens + length, elapsed, elapsed >= 1.0 and not ongoing)


def _curves(
    tallies: Sequence[CellTally],
    days: Sequence[DailyResponders],
    window: WindowProgress | None,
    now: datetime,
) -> tuple[ResponseCurve, ...]:
    """Cumulative responders per cell for each day from launch to today (or the window's end)."""
    if window is None:
        return ()
    elapsed_days = max(
        0, int(min(now, window.closes_at).timestamp() - window.opens_at.timestamp()) // 86400
    )
    last = max([elapsed_days, *(d.day for d in days)])
    curves = []
    for tally in tallies:
        new = {d.day: d.responders for d in days if d.cell == tally.code}
        total, points = 0, []
        for day in range(0, last + 1):
            total += new.get(day, 0)
            rate = total / tally.assigned if tally.assigned else None
            points.append(CurvePoint(day, total, rate))
        curves.append(ResponseCurve(tally.code, tuple(points)))
    return tuple(curves)


def _notes(
    results: CampaignResults,
    window: WindowProgress | None,
    funnel: Sequence[StepTally],
    tallies: Sequence[CellTally],
) -> tuple[str, ...]:
    """The warnings to read before acting on the figures."""
    notes = []
    if window is None:
        notes.append("not launched yet: nothing to count")
    elif not window.final:
        notes.append(
            f"window still open ({window.elapsed:.0%} of {format_duration(window.window)} passed,"
            f" closes {window.closes_at:%Y-%m-%d %H:%M} UTC): figures will move"
        )
    ratio = results.sample_ratio
    if ratio is not None and ratio.mismatch:
        notes.append(
            f"sample-ratio mismatch (chi-square {ratio.statistic:.1f}, p = {ratio.p_value:.2g}):"
            " the cells are not the planned split; find out why before trusting the lift"
        )
    if not any(t.control and t.assigned for t in tallies):
        notes.append("no control cell: no lift (responses are counted, not compared)")
    elif results.uncompared:
        notes.append("no comparison for " + ", ".join(results.uncompared) + " (an empty cell)")
    queued = sum(step.queued for step in funnel)
    if queued:
        notes.append(f"{queued:,} sends still queued: their contacts' windows have not started")
    return tuple(notes)
