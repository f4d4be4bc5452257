"""`campaign dispatch`, `campaign worker` and `campaign outbox`."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from types import FrameType

import click
from rich.console import Console

from engine.bootstrap import Adapters, channels, dispatch_ports, dispatch_rules
from engine.cli.context import Context
from engine.cli.launch import AT
from engine.cli.ui import table
from engine.db import migrate
from engine.db.outbox import SqlOutboxReader
from engine.services.dispatching import DispatchReport, dispatch_due

CHANNEL = click.option(
    "--channel",
    "only",
    multiple=True,
    type=click.Choice(["email", "sms", "mail", "call"]),
    help="Only these channels (repeatable; default: all).",
)


def run_dispatch(
    adapters: Adapters, at: datetime | None, only: tuple[str, ...] = (), worker: str | None = None
) -> DispatchReport:
    """One pass over the due sends; `at` fixes the clock (a dry run in time)."""
    migrate.require_current(adapters.engine)

    def clock() -> datetime:
        return at if at is not None else datetime.now(UTC)

    def sleep(seconds: float) -> None:
        if at is None:
            time.sleep(seconds)

    ways = channels(adapters, clock)
    chosen = {name: channel for name, channel in ways.items() if not only or name in only}
    try:
        return dispatch_due(
            dispatch_ports(adapters), chosen, dispatch_rules(adapters, worker), clock, sleep
        )
    finally:
        for channel in ways.values():
            channel.close()


@click.command()
@AT
@CHANNEL
@click.pass_obj
def dispatch(ctx: Context, at: datetime | None, only: tuple[str, ...]) -> None:
    """Send what is due now, once: one dispatch pass over every channel.

    Claims due sends of running campaigns in batches, checks consent,
    suppressions and frequency caps again, waits out send windows and quiet
    hours (in each customer's timezone), renders, paces by the channel
    throttle and hands the messages to SendGrid, Twilio, the print file, the
    call list or (without provider keys) the outbox. Expired claims of a
    crashed worker are recovered first: never handed over -> queued again;
    maybe sent -> unknown, never resent blindly.
    """
    at_utc = at.replace(tzinfo=UTC) if at else None
    ctx.for_dispatch()
    with ctx.console.status("dispatching due sends"):
        report = run_dispatch(ctx.adapters, at_utc, only)
    print_dispatch(ctx.console, report)


@click.command()
@CHANNEL
@click.option(
    "--stop-when-idle", is_flag=True, help="Exit after the first pass that sends nothing."
)
@click.pass_obj
def worker(ctx: Context, only: tuple[str, ...], stop_when_idle: bool) -> None:
    """Dispatch continuously: a pass, then a pause when nothing was due (Ctrl-C or SIGTERM stops).

    Run as many workers as you like on PostgreSQL: each claims its own
    batches (FOR UPDATE SKIP LOCKED) and the throttle is shared through the
    database. On SQLite run one.
    """
    stopping = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    ctx.for_dispatch()
    idle = ctx.settings.dispatch.poll_seconds
    while not stopping:
        report = run_dispatch(ctx.adapters, None, only)
        if sum(report.states.values()) or report.skipped or report.paused:
            print_dispatch(ctx.console, report)
        elif stop_when_idle:
            break
        else:
            time.sleep(idle)


def print_dispatch(console: Console, report: DispatchReport) -> None:
    for key in report.started:
        console.print(f"campaign {key} started", highlight=False)
    rows = sorted((channel, state, n) for (channel, state), n in report.states.items())
    console.print(table("sends this pass", ["channel", "state", "sends"], rows or [("-", "-", 0)]))
    if report.skipped:
        console.print(
            table("skipped at send time", ["reason", "sends"], sorted(report.skipped.items()))
        )
    notes = [
        (report.deferred, "deferred to the next send window or quiet-hours end"),
        (report.requeued, "expired claims queued again (never reached a provider)"),
        (
            report.unknown,
            "expired claims now unknown (may have been sent; awaiting provider events)",
        ),
        (report.resolved, "unknown sends resolved by policy after the grace period"),
    ]
    for count, what in notes:
        if count:
            console.print(f"{count:,} {what}", highlight=False)
    for reason in report.paused:
        console.print(f"[red]campaign paused:[/] {reason}", highlight=False)
    for path in report.files:
        console.print(f"wrote {path}", highlight=False)


@click.command()
@click.argument("key", required=False)
@click.option("--limit", default=5, show_default=True, help="Messages to show.")
@click.pass_obj
def outbox(ctx: Context, key: str | None, limit: int) -> None:
    """Messages written to the outbox (channels without a provider), newest first."""
    reader = SqlOutboxReader(ctx.adapters.engine)
    print_outbox(ctx.console, reader, key, limit)


def print_outbox(console: Console, reader: SqlOutboxReader, key: str | None, limit: int) -> None:
    console.print(table("outbox", ["campaign", "channel", "messages"], reader.counts()))
    for message in reader.latest(key, limit):
        head = f"[bold]#{message['send_id']} {message['campaign']}/{message['step']}[/] {message['channel']} to {message['recipient']}"
        console.print(head, highlight=False)
        if message["subject"]:
            console.print(f"  subject: {message['subject']}", highlight=False)
        text = str(message["text"]).strip().replace("\n", "\n  ")
        console.print("  " + (text[:400] + (" ..." if len(text) > 400 else "")), highlight=False)
