"""A campaign report as plain data: JSON (`report_json`) and CSV rows (`report_rows`).

Keys are stable and documented in docs/results.md. Every money figure is
in cents of the campaign's currency (`money` says which); rates, lifts and
ROI are fractions (0.031 = 3.1%); intervals are ``{"low", "high"}`` at 95%;
times are ISO 8601 UTC; figures that cannot be computed are null.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from engine.core.stats import CellResult, Comparison, Interval
from engine.services.reporting import CampaignReport, CampaignSummary

CSV_COLUMNS = (
    "cell",
    "control",
    "assigned",
    "treated",
    "sent",
    "delivered",
    "opened",
    "clicked",
    "responders",
    "response_rate",
    "response_low",
    "response_high",
    "revenue_cents",
    "cost_cents",
    "roi",
    "versus",
    "absolute_lift",
    "absolute_lift_low",
    "absolute_lift_high",
    "relative_lift",
    "relative_lift_low",
    "relative_lift_high",
    "p_value",
    "adjusted_p_value",
    "significant",
    "minimum_detectable_lift",
)


def report_json(report: CampaignReport) -> dict[str, Any]:
    """Every figure of the report, as JSON-ready data."""
    costs = {cost.cell: cost for cost in report.costs}
    window = report.window
    return {
        "campaign": {
            "key": report.key,
            "name": report.name,
            "kind": report.kind,
            "status": report.status,
        },
        "as_of": _time(report.now),
        "launched_at": _time(report.launched_at),
        "since_launch_seconds": (
            None if report.since_launch is None else report.since_launch.total_seconds()
        ),
        "window": None
        if window is None
        else {
            "days": window.window.total_seconds() / 86400,
            "opens_at": _time(window.opens_at),
            "closes_at": _time(window.closes_at),
            "elapsed": window.elapsed,
            "final": window.final,
        },
        "response_events": list(report.response_events),
        "money": f"cents of {report.currency}" if report.currency else "cents",
        "alpha": report.results.alpha,
        "cells": [
            {
                **_cell(cell),
                "messages": dict(costs[cell.code].messages) if cell.code in costs else {},
            }
            for cell in report.results.cells
        ],
        "comparisons": [_plain(c) for c in report.results.comparisons],
        "uncompared": list(report.results.uncompared),
        "sample_ratio": None
        if report.sample_ratio is None
        else {**_plain(report.sample_ratio), "mismatch": report.sample_ratio.mismatch},
        "funnel": [
            {**_plain(step), "skipped": dict(step.skipped), "skipped_total": step.skipped_total}
            for step in report.funnel
        ],
        "curves": [
            {"cell": curve.cell, "points": [_plain(p) for p in curve.points]}
            for curve in report.curves
        ],
        "notes": list(report.notes),
    }


def report_rows(report: CampaignReport) -> list[dict[str, Any]]:
    """One CSV row per cell (columns `CSV_COLUMNS`): its figures and its lift, if compared."""
    rows = []
    for cell in report.results.cells:
        c = cell.counts
        interval = cell.response_interval
        row: dict[str, Any] = {
            "cell": c.code,
            "control": c.control,
            "assigned": c.assigned,
            "treated": c.treated,
            "sent": c.sent,
            "delivered": c.delivered,
            "opened": c.opened,
            "clicked": c.clicked,
            "responders": c.responders,
            "response_rate": cell.response_rate,
            "response_low": None if interval is None else interval.low,
            "response_high": None if interval is None else interval.high,
            "revenue_cents": cell.revenue,
            "cost_cents": cell.cost,
            "roi": cell.roi,
        }
        lift = report.results.comparison(c.code)
        if lift is not None:
            row |= _lift_columns(lift)
        rows.append({column: row.get(column) for column in CSV_COLUMNS})
    return rows


def summaries_json(summaries: list[CampaignSummary]) -> list[dict[str, Any]]:
    """`campaign report --all --json`: one object per campaign."""
    return [_plain(summary) for summary in summaries]


def _lift_columns(lift: Comparison) -> dict[str, Any]:
    relative = lift.relative_lift_interval
    return {
        "versus": lift.control,
        "absolute_lift": lift.absolute_lift,
        "absolute_lift_low": lift.absolute_lift_interval.low,
        "absolute_lift_high": lift.absolute_lift_interval.high,
        "relative_lift": lift.relative_lift,
        "relative_lift_low": None if relative is None else relative.low,
        "relative_lift_high": None if relative is None else relative.high,
        "p_value": lift.p_value,
        "adjusted_p_value": lift.adjusted_p_value,
        "significant": lift.significant,
        "minimum_detectable_lift": lift.minimum_detectable_lift,
    }


def _cell(cell: CellResult) -> dict[str, Any]:
    """A cell's counts and figures in one flat object (`code` first)."""
    figures = _plain(cell)
    counts = figures.pop("counts")
    counts.pop("versus")
    revenue, cost = counts.pop("revenue"), counts.pop("cost")
    assert figures["revenue"] == revenue and figures["cost"] == cost
    return {**counts, **figures}


def _plain(value: Any) -> Any:
    """Dataclasses as dicts (field names are the keys), intervals as {low, high}."""
    if isinstance(value, Interval):
        return {"low": value.low, "high": value.high}
    if isinstance(value, datetime):
        return _time(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
