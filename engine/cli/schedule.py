"""`campaign scheduler`: the long-running process that launches, enters and dispatches."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click

from engine.cli.context import Context
from engine.cli.followups import print_followups, run_followup_pass
from engine.cli.send import print_dispatch, run_dispatch
from engine.db import migrate
from engine.db.leader import LeaderLock
from engine.scheduler import build
from engine.services.following import SpecCache


@click.command()
@click.pass_obj
def scheduler(ctx: Context) -> None:
    """Run the scheduler: ticks with fixed ids, one leader at a time.

    Ticks: `launch-due` (scheduled campaigns whose start has come begin,
    every 30 s), `entries` (trigger campaigns' entry runs, every minute),
    `dispatch` (a dispatch pass every `dispatch.poll_seconds`), `followups`
    (follow-up rules every `followups.tick_seconds`) and
    `metrics-nightly` (metrics refresh at 03:00 in the configured timezone).
    A second scheduler on the same database waits as a standby (PostgreSQL
    advisory lock; a lock file on SQLite) and takes over when the first stops.
    """
    adapters = ctx.adapters
    migrate.require_current(adapters.engine)
    lock = LeaderLock(adapters.engine)
    poll = adapters.settings.dispatch.poll_seconds
    announced = False
    while not lock.acquire():
        if not announced:
            ctx.console.print("another scheduler is running: standing by")
            announced = True
        time.sleep(poll)

    def dispatch() -> None:
        report = run_dispatch(adapters, None)
        if sum(report.states.values()) or report.skipped or report.paused:
            print_dispatch(ctx.console, report)

    cache = SpecCache()

    def followups() -> None:
        report = run_followup_pass(adapters, datetime.now(UTC), cache)
        if report.fired or report.skipped:
            print_followups(ctx.console, report)

    ctx.console.print("scheduler running (Ctrl-C stops)")
    try:
        build(adapters, dispatch, followups).start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        lock.release()
