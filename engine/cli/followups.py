"""`campaign followups`: one pass of the follow-up rules."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from rich.console import Console

from engine.bootstrap import Adapters, followup_options, followup_store
from engine.cli.context import Context
from engine.cli.ui import table
from engine.db import migrate
from engine.services.following import FollowupReport, SpecCache, run_followups


def run_followup_pass(
    adapters: Adapters, now: datetime, cache: SpecCache | None = None
) -> FollowupReport:
    """One pass over every follow-up rule at `now`."""
    migrate.require_current(adapters.engine)
    return run_followups(
        followup_store(adapters),
        adapters.launches,
        now,
        followup_options(adapters.settings),
        cache,
    )


@click.command()
@click.option(
    "--now", "at", type=click.DateTime(), help="Evaluate as of this UTC time (default: now)."
)
@click.pass_obj
def followups(ctx: Context, at: datetime | None) -> None:
    """Queue the follow-up steps whose trigger came true: one pass, then exit.

    Evaluates every `when:` of the running (and paused) campaigns: events
    within a window (`opened: offer, within: 20m`), absences after a wait
    (`not_opened: offer, after: 3d`), fixed delays (`after: offer, delay:
    15d`, `after_entry: 15d`) and `else:` alternatives. Queued sends go out
    with `campaign dispatch`, which checks consent, windows and expiry again.
    The scheduler runs this every `followups.tick_seconds`.
    """
    now = at.replace(tzinfo=UTC) if at else ctx.now()
    print_followups(ctx.console, run_followup_pass(ctx.adapters, now))


def print_followups(console: Console, report: FollowupReport) -> None:
    fired = sorted((key, step, kind, n) for (key, step, kind), n in report.fired.items())
    console.print(
        table(
            f"follow-ups queued ({report.rules} rules evaluated)",
            ["campaign", "step", "trigger", "sends"],
            fired or [("-", "-", "-", 0)],
        )
    )
    if report.skipped:
        skipped = sorted((key, step, why, n) for (key, step, why), n in report.skipped.items())
        console.print(table("not queued", ["campaign", "step", "reason", "sends"], skipped))
