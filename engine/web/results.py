"""Campaign results pages of the dashboard: the list, one campaign, and the list as JSON.

Figures come from the report use case (`campaign_report`, `all_campaigns`),
the same numbers `campaign report` prints; this module only shapes them for
the page and its charts. Its blueprint is `protected`: login required, like every dashboard page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Response, abort, jsonify, render_template
from markupsafe import Markup

from engine.db.results import SqlResults
from engine.services.launching import UnknownCampaign
from engine.services.reporting import (
    CampaignReport,
    CampaignSummary,
    ResponseCurve,
    all_campaigns,
    campaign_report,
)
from engine.web.charts import IntervalBar, Series, rate_bars, step_lines
from engine.web.context import engine_context
from engine.web.dashboard import protected

blueprint = protected("results")


@dataclass(frozen=True)
class StepRow:
    """One step of the funnel, summed over its cells (queued..clicked are send counts)."""

    step: str
    channel: str
    queued: int
    sent: int
    delivered: int
    bounced: int
    failed: int
    skipped: int
    opened: int
    clicked: int


def _store() -> SqlResults:
    return SqlResults(engine_context().adapters.engine)


def _now() -> datetime:
    return engine_context().clock()


@blueprint.get("/")
def campaigns() -> str:
    """Every launched campaign: status, audience, responders and the best cell's lift."""
    rows = all_campaigns(_store(), _now())
    return render_template("dashboard/campaigns.html", campaigns=rows)


@blueprint.get("/campaigns.json")
def campaigns_json() -> Response:
    """The campaign list for scripts (a bearer token or a session)."""
    return jsonify(campaigns=[_summary_json(s) for s in all_campaigns(_store(), _now())])


@blueprint.get("/campaigns/<key>")
def campaign(key: str) -> str:
    """One campaign: cells, lift against control, charts, funnel per step, cost and ROI."""
    try:
        report = campaign_report(_store(), key, _now())
    except UnknownCampaign:
        abort(404)
    currency = report.currency or engine_context().adapters.settings.currency.base
    return render_template(
        "dashboard/campaign.html",
        report=report,
        currency=currency,
        steps=funnel_by_step(report),
        rate_chart=response_rate_chart(report),
        curve_chart=curve_chart(report),
    )


def response_rate_chart(report: CampaignReport) -> Markup:
    """Bars of each cell's response rate (of everyone assigned) with its 95% Wilson interval."""
    bars = [
        IntervalBar(
            _label(cell.counts.code, cell.counts.control),
            cell.response_rate,
            cell.response_interval.low,
            cell.response_interval.high,
            cell.counts.control,
        )
        for cell in report.results.cells
        if cell.response_rate is not None and cell.response_interval is not None
    ]
    return rate_bars(bars, title="Response rate per cell, with 95% intervals")


def curve_chart(report: CampaignReport) -> Markup:
    """Cumulative responders per cell (as a share of those assigned), day by day since launch."""
    controls = {t.code for t in report.tallies if t.control}
    series = [_series(curve, curve.cell in controls) for curve in report.curves]
    longest = max((len(c.points) for c in report.curves), default=0)
    return step_lines(
        series,
        title="Cumulative responders per cell, % of assigned, by day since launch",
        x_ticks=_day_ticks(report.launched_at, longest),
    )


def _series(curve: ResponseCurve, control: bool) -> Series:
    # A point at day d is the total by the end of day d: drawn at d + 1 so the
    # line starts at (0, 0), the launch.
    points = [(0.0, 0.0)] + [(p.day + 1.0, p.rate or 0.0) for p in curve.points]
    return Series(_label(curve.cell, control), tuple(points), control)


def _label(code: str, control: bool) -> str:
    """A cell's name on a chart: control cells say so (unless their code does)."""
    return f"{code} (control)" if control and "control" not in code.lower() else code


def _day_ticks(launched_at: datetime | None, days: int) -> list[tuple[float, str]]:
    """At most eight date labels from the launch to the last day shown."""
    if launched_at is None or days == 0:
        return []
    every = max(1, -(-days // 7))
    return [
        (float(day), (launched_at + timedelta(days=day)).strftime("%b %d"))
        for day in range(0, days + 1, every)
    ]


def funnel_by_step(report: CampaignReport) -> list[StepRow]:
    """The report's funnel (per step and cell) summed per step, in the report's order."""
    rows: dict[tuple[str, str], list[int]] = {}
    for t in report.funnel:
        counts = (
            t.queued,
            t.sent,
            t.delivered,
            t.bounced,
            t.failed,
            t.skipped_total,
            t.opened,
            t.clicked,
        )
        total = rows.setdefault((t.step, t.channel), [0] * len(counts))
        for i, n in enumerate(counts):
            total[i] += n
    return [StepRow(step, channel, *counts) for (step, channel), counts in rows.items()]


def _summary_json(summary: CampaignSummary) -> dict[str, Any]:
    interval = summary.interval
    return {
        "key": summary.key,
        "name": summary.name,
        "status": summary.status,
        "launched_at": summary.launched_at.isoformat() if summary.launched_at else None,
        "assigned": summary.assigned,
        "responders": summary.responders,
        "final": summary.final,
        "best_cell": summary.best,
        "absolute_lift": summary.lift,
        "absolute_lift_interval": None if interval is None else [interval.low, interval.high],
        "relative_lift": summary.relative_lift,
        "adjusted_p_value": summary.adjusted_p,
        "significant": summary.significant,
    }
