"""The pure rules of a campaign report: costs, window progress, curves, warnings.

`engine.services.reporting` reads the counts (`engine.core.results`) and
calls these; nothing here reads a clock or a database (`now` is passed in).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.core.campaign.spec import CampaignSpec
from engine.core.campaign.values import format_duration
from engine.core.results import CampaignRecord, CellTally, DailyResponders, StepTally
from engine.core.stats import CampaignResults


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


def cell_costs(
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


def window_progress(
    record: CampaignRecord, spec: CampaignSpec, now: datetime
) -> WindowProgress | None:
    """The response window's progress; None before launch."""
    if record.launched_at is None:
        return None
    opens = max(record.starts_at, record.launched_at)
    length = spec.response.window
    elapsed = min(max((now - opens) / length, 0.0), 1.0) if length > timedelta(0) else 1.0
    ongoing = record.kind == "trigger" and record.status in ("scheduled", "running", "paused")
    return WindowProgress(length, opens, opens + length, elapsed, elapsed >= 1.0 and not ongoing)


def response_curves(
    tallies: Sequence[CellTally],
    days: Sequence[DailyResponders],
    window: WindowProgress | None,
    now: datetime,
    launched_at: datetime | None = None,
) -> tuple[ResponseCurve, ...]:
    """Cumulative responders per cell for each day from launch to today (or the window's end).

    Days count from `launched_at`, as `days` do (the window may open later,
    at the campaign start); without it, from the window's opening.
    """
    if window is None:
        return ()
    origin = launched_at or window.opens_at
    elapsed_days = max(0, int(min(now, window.closes_at).timestamp() - origin.timestamp()) // 86400)
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


def report_notes(
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
