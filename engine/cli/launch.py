"""`campaign launch`, `enter`, `pause`, `resume`, `cancel` and `status`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console

from engine.bootstrap import Adapters, codebook
from engine.cli.campaigns import FILE, read_campaign
from engine.cli.context import Context
from engine.cli.ui import table
from engine.db import migrate
from engine.db.outbox import SqlAlerts
from engine.services.launching import LaunchReport, change_status, launch_campaign, run_entries

AT = click.option("--at", type=click.DateTime(), help="Act as of this UTC time (default: now).")


def _now(ctx: Context, at: datetime | None) -> datetime:
    return at.replace(tzinfo=UTC) if at else ctx.now()


@click.command()
@click.argument("file", type=FILE)
@AT
@click.pass_obj
def launch(ctx: Context, file: Path, at: datetime | None) -> None:
    """Launch campaign FILE: freeze its audience into contact history and queue first sends.

    Every customer the segment matches gets a contact: treated (test cells),
    held out (control, no sends) or suppressed with the exclusion reason. Cells
    come from a deterministic hash of campaign key, salt and customer id.
    Treated contacts get queued sends for the first steps, due at the first
    send window in their own timezone. Launching again adds nothing; a
    changed audience or split is refused. Trigger campaigns (`entry:`) are
    registered and enter their first customers; `campaign enter` runs later
    entries.
    """
    report = run_launch(ctx.adapters, file, _now(ctx, at), ctx.console)
    print_launch(ctx.console, report)


def run_launch(adapters: Adapters, file: Path, now: datetime, console: Console) -> LaunchReport:
    checked = read_campaign(file, adapters.renderer)
    migrate.require_current(adapters.engine)
    text = file.read_text(encoding="utf-8")
    with console.status(f"launching {checked.spec.key}"):
        return launch_campaign(
            checked, text, adapters.policy(), adapters.launches, codebook(adapters.settings), now
        )


@click.command()
@AT
@click.pass_obj
def enter(ctx: Context, at: datetime | None) -> None:
    """Run the due entries of trigger campaigns (the scheduler does this on its own)."""
    adapters = ctx.adapters
    migrate.require_current(adapters.engine)
    reports = run_entries(
        adapters.launches, adapters.policy(), codebook(adapters.settings), _now(ctx, at)
    )
    for report in reports:
        print_launch(ctx.console, report)
    if not reports:
        ctx.console.print("no trigger campaign is due for an entry run")


def print_launch(console: Console, report: LaunchReport) -> None:
    counts = report.counts
    total = sum(size for *_, size in counts.cells)
    verb = "launched" if report.created else "entry run for" if report.entered else "unchanged:"
    console.print(f"{verb} {report.key}: {report.entered:,} contacts written", highlight=False)
    for note in report.notes:
        console.print(note, highlight=False)
    rows = [
        (
            code,
            "control" if control else "test",
            f"{share:.1%}",
            size,
            f"{size / total:.2%}" if total else "-",
        )
        for code, control, share, size in counts.cells
    ]
    console.print(table("cells", ["cell", "role", "planned", "contacts", "observed"], rows))
    if counts.excluded:
        console.print(
            table(
                "excluded before the split (suppressed contacts)",
                ["reason", "customers"],
                counts.excluded,
            )
        )
    if counts.sends:
        console.print(table("sends", ["state", "sends"], counts.sends))
    check = report.sample_ratio
    if check is None:
        console.print("sample-ratio check: nothing to compare")
    elif check.mismatch:
        console.print(
            f"[red]warning: sample-ratio mismatch[/] chi-square {check.statistic:.2f} "
            f"(df {check.dof}), p = {check.p_value:.2g} < 0.001: the split is not what was "
            "planned; do not trust this campaign's results until the cause is found"
        )
    else:
        console.print(
            f"sample-ratio check: chi-square {check.statistic:.2f} (df {check.dof}), "
            f"p = {check.p_value:.3f}: the split matches the planned shares",
            highlight=False,
        )


def _status_command(name: str, status: str, summary: str) -> click.Command:
    @click.command(name=name, help=summary)
    @click.argument("key")
    @click.option("--reason", required=status != "running", help="Why (kept with the campaign).")
    @click.pass_obj
    def command(ctx: Context, key: str, reason: str | None) -> None:
        before = change_status(ctx.adapters.launches, key, status, reason, ctx.now())
        ctx.console.print(f"{key}: {before} -> {status}", highlight=False)

    return command


pause = _status_command(
    "pause", "paused", "Pause campaign KEY: nothing is sent until it is resumed."
)
resume = _status_command("resume", "running", "Resume paused campaign KEY.")
cancel = _status_command(
    "cancel", "cancelled", "Cancel campaign KEY: queued sends are cancelled, history is kept."
)


@click.command()
@click.argument("key", required=False)
@click.pass_obj
def status(ctx: Context, key: str | None) -> None:
    """Launched campaigns with their status and counts (one campaign with KEY)."""
    store = ctx.adapters.launches
    campaigns = [c for c in store.all() if key in (None, c.key)]
    if key and not campaigns:
        raise click.ClickException(f"no launched campaign {key!r}")
    rows = []
    for campaign in campaigns:
        counts = store.counts(campaign.id)
        contacts = sum(size for *_, size in counts.cells)
        excluded = sum(n for _, n in counts.excluded)
        sends = ", ".join(f"{state} {n:,}" for state, n in counts.sends) or "-"
        rows.append((campaign.key, campaign.kind, campaign.status, contacts, excluded, sends))
    console = ctx.console
    console.print(
        table("campaigns", ["key", "kind", "status", "assigned", "excluded", "sends"], rows)
    )
    if key:
        launched = campaigns[0]
        if launched.status_reason:
            console.print(f"reason: {launched.status_reason}", highlight=False)
        alerts = SqlAlerts(ctx.adapters.engine).latest(key)
        if alerts:
            rows = [(f"{at:%Y-%m-%d %H:%M}", kind, message) for at, kind, message in alerts]
            console.print(table("latest alerts", ["when (UTC)", "kind", "message"], rows))
