"""`campaign report`: a campaign's results (lift against control, intervals, ROI).

`print_report(console, report)` prints one report with rich tables (the demo
calls it too); `--json` and `--csv` write plain data (engine.services.report_data).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import click
from rich.console import Console
from sqlalchemy import Engine

from engine.cli.context import Context
from engine.cli.ui import table
from engine.core.stats import Interval
from engine.db import migrate
from engine.db.results import SqlResults
from engine.services.report_data import CSV_COLUMNS, report_json, report_rows, summaries_json
from engine.services.reporting import (
    CampaignReport,
    CampaignSummary,
    all_campaigns,
    campaign_report,
)


@click.command()
@click.argument("key", required=False)
@click.option("--all", "every", is_flag=True, help="An overview of every launched campaign.")
@click.option("--json", "as_json", is_flag=True, help="Every figure as JSON (docs/results.md).")
@click.option("--csv", "as_csv", is_flag=True, help="One CSV row per cell with its lift.")
@click.option("--at", type=click.DateTime(), help="Report as of this UTC time (default: now).")
@click.pass_obj
def report(
    ctx: Context, key: str | None, every: bool, as_json: bool, as_csv: bool, at: datetime | None
) -> None:
    """Results of campaign KEY: response rates, lift against control, significance, ROI.

    The headline is intent-to-treat: responders over everyone assigned to a
    cell (delivered or not), test cells against the control, with 95%
    intervals (Wilson for rates, Newcombe for lifts), p-values from a pooled
    z-test and Holm-adjusted p-values over all test cells; MDE is the lift
    the cell sizes could detect (80% power). A responder has a credited
    response of a kind in the campaign's `response.events`. Cost is the
    campaign file's cost per message times the messages that went; ROI is
    (revenue - cost) / cost. Figures move until the response window is over:
    the report says how much of it has passed. Delivered-basis rates are in
    a separate, secondary table (delivery is not random).

    `--all` lists every campaign with its best test cell's lift; `--json`
    prints every figure with stable keys, `--csv` one row per cell (with its
    lift against control). docs/results.md explains how to read them.
    """
    if bool(key) == every:
        raise click.UsageError("give a campaign KEY or --all")
    if as_json and as_csv:
        raise click.UsageError("--json and --csv exclude each other")
    adapters = ctx.adapters
    migrate.require_current(adapters.engine)
    store, now = SqlResults(adapters.engine), at.replace(tzinfo=UTC) if at else ctx.now()
    if every:
        summaries = all_campaigns(store, now)
        if as_json:
            click.echo(json.dumps(summaries_json(summaries), indent=2))
        elif as_csv:
            rows = [_flat(row) for row in summaries_json(summaries)]
            click.echo(_csv(list(rows[0]) if rows else [], rows), nl=False)
        else:
            print_overview(ctx.console, summaries)
        return
    assert key is not None
    found = campaign_report(store, key, now)
    if as_json:
        click.echo(json.dumps(report_json(found), indent=2))
    elif as_csv:
        click.echo(_csv(list(CSV_COLUMNS), report_rows(found)), nl=False)
    else:
        print_report(ctx.console, found)


def _flat(row: dict[str, object]) -> dict[str, object]:
    """An interval {low, high} as two columns `<key>_low`, `<key>_high`."""
    out: dict[str, object] = {}
    for key, value in row.items():
        if key == "interval":
            low, high = (None, None) if value is None else (value["low"], value["high"])  # type: ignore[index]
            out |= {"lift_low": low, "lift_high": high}
        else:
            out[key] = value
    return out


def _csv(columns: list[str], rows: list[dict[str, object]]) -> str:
    """`rows` as CSV text with a header; empty cells for null figures."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def print_report(console: Console, report: CampaignReport) -> None:
    """The report as rich tables: header, notes, cells, lift, funnel, curve, delivered basis."""
    console.print(f"[bold]{report.name}[/bold] ({report.key}) — {_header(report)}", highlight=False)
    for note in report.notes:
        console.print(f"[yellow]! {note}[/yellow]", highlight=False)
    money = report.currency or "money"
    costs = {cost.cell: cost for cost in report.costs}
    console.print(
        table(
            "cells (intent-to-treat: responders over everyone assigned)",
            ["cell", "assigned", "sent", "delivered", "opened", "clicked", "responders",
             "response rate [95% CI]", f"revenue {money}", f"cost {money}", "ROI"],
            [
                (
                    c.code + (" (control)" if c.counts.control and c.code != "control" else ""),
                    c.counts.assigned, c.counts.sent, c.counts.delivered, c.counts.opened,
                    c.counts.clicked, c.counts.responders,
                    _rate(c.response_rate, c.response_interval),
                    _money(c.revenue), _money(costs[c.code].cost_cents), _percent(c.roi, 0),
                )
                for c in report.results.cells
            ],
        )
    )  # fmt: skip
    _print_lift(console, report)
    _print_funnel(console, report)
    _print_curve(console, report)
    _print_delivered(console, report)
    ratio = report.sample_ratio
    if ratio is not None:
        verdict = "MISMATCH" if ratio.mismatch else "as planned"
        console.print(
            f"sample ratio: chi-square {ratio.statistic:.2f} ({ratio.dof} df),"
            f" p = {ratio.p_value:.3g}: {verdict}",
            highlight=False,
        )


def show_report(console: Console, engine: Engine, key: str, now: datetime) -> CampaignReport:
    """Compute and print the report of campaign `key` (the demo's last step); returns it."""
    found = campaign_report(SqlResults(engine), key, now)
    print_report(console, found)
    return found


def print_overview(console: Console, summaries: list[CampaignSummary]) -> None:
    """`campaign report --all`: one line per campaign, the best test cell's lift."""
    if not summaries:
        console.print("no campaign has been launched yet")
        return
    console.print(
        table(
            "campaigns (lift of the best test cell against control, intent-to-treat)",
            ["campaign", "status", "launched", "assigned", "responders", "best cell",
             "lift [95% CI]", "relative lift", "Holm p", "figures"],
            [
                (
                    s.key, s.status,
                    f"{s.launched_at:%Y-%m-%d}" if s.launched_at else "-",
                    s.assigned, s.responders, s.best or "-",
                    _points(s.lift, s.interval), _percent(s.relative_lift),
                    _p(s.adjusted_p) + (" *" if s.significant else ""),
                    "final" if s.final else "window open",
                )
                for s in summaries
            ],
        )
    )  # fmt: skip


def _print_lift(console: Console, report: CampaignReport) -> None:
    comparisons = report.results.comparisons
    if not comparisons:
        return
    console.print(
        table(
            f"lift against control (95% intervals; Holm over {len(comparisons)} test cells,"
            f" significant at adjusted p <= {report.results.alpha:g})",
            ["test cell", "absolute lift", "relative lift", "p", "Holm p", "significant",
             "MDE", "extra responders", "extra revenue", "incremental ROI"],
            [
                (
                    f"{c.test} vs {c.control}",
                    _points(c.absolute_lift, c.absolute_lift_interval),
                    _rate(c.relative_lift, c.relative_lift_interval),
                    _p(c.p_value), _p(c.adjusted_p_value), "yes" if c.significant else "no",
                    _points(c.minimum_detectable_lift, None),
                    f"{c.incremental_responders:+,.1f}", _money(c.incremental_revenue),
                    _percent(c.incremental_roi, 0),
                )
                for c in comparisons
            ],
        )
    )  # fmt: skip


def _print_funnel(console: Console, report: CampaignReport) -> None:
    if not report.funnel:
        return
    rows = [
        (s.step, s.cell, s.channel, s.queued, s.sent, s.delivered, s.bounced, s.opened, s.clicked,
         ", ".join(f"{reason} {n:,}" for reason, n in s.skipped) or "-", s.failed)
        for s in report.funnel
    ]  # fmt: skip
    headers = ["step", "cell", "channel", "queued", "sent", "delivered", "bounced", "opened",
               "clicked", "skipped", "failed"]  # fmt: skip
    console.print(table("messages per step (opens: human only)", headers, rows))


def _print_curve(console: Console, report: CampaignReport) -> None:
    """Cumulative response rate per cell on a few days since launch."""
    if not report.curves or not report.curves[0].points:
        return
    last = report.curves[0].points[-1].day
    days = sorted({0, *range(0, last + 1, max(1, last // 6)), last})
    rows = [
        (curve.cell, *(_percent(curve.points[day].rate) for day in days)) for curve in report.curves
    ]
    console.print(
        table("cumulative response rate by day since launch", ["cell", *map(str, days)], rows)
    )


def _print_delivered(console: Console, report: CampaignReport) -> None:
    rows = [
        (
            cell.code,
            cell.counts.delivered,
            cell.counts.delivered_responders or 0,
            _rate(cell.delivered_rate, cell.delivered_interval),
            _points(lift.delivered_lift, lift.delivered_lift_interval) if lift else "-",
        )
        for cell in report.results.cells
        if not cell.counts.control
        for lift in [report.results.comparison(cell.code)]
    ]
    if rows:
        console.print(
            table(
                "SECONDARY, delivered basis (not randomised: do not read as the lift)",
                ["cell", "delivered", "responders among them", "rate [95% CI]", "vs whole control"],
                rows,
            )
        )


def _header(report: CampaignReport) -> str:
    parts = [report.status]
    if report.launched_at is not None and report.since_launch is not None:
        parts.append(
            f"launched {report.launched_at:%Y-%m-%d %H:%M} UTC, {_age(report.since_launch)} ago"
        )
    window = report.window
    if window is not None:
        state = "final" if window.final else "open"
        parts.append(
            f"response window {_age(window.window)}: {window.elapsed:.0%} passed ({state})"
        )
    return "; ".join(parts)


def _age(value: timedelta) -> str:
    hours = int(value.total_seconds() // 3600)
    return f"{hours // 24}d {hours % 24}h" if hours >= 24 else f"{hours}h"


def _percent(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}%}"


def _rate(value: float | None, interval: Interval | None) -> str:
    if value is None:
        return "-"
    if interval is None:
        return _percent(value)
    return f"{_percent(value)} [{interval.low * 100:,.1f}, {interval.high * 100:,.1f}]"


def _points(value: float | None, interval: Interval | None) -> str:
    """A difference of rates in percentage points."""
    if value is None:
        return "-"
    text = f"{value * 100:+.2f} pp"
    return (
        text
        if interval is None
        else f"{text} [{interval.low * 100:+.2f}, {interval.high * 100:+.2f}]"
    )


def _p(value: float | None) -> str:
    return "-" if value is None else "<0.0001" if value < 0.0001 else f"{value:.4f}"


def _money(cents: float) -> str:
    return f"{cents / 100:,.2f}"
