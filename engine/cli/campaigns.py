"""`campaign validate` and `campaign plan`: campaign files checked and previewed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console

from engine.bootstrap import Adapters, renderer
from engine.cli.context import Context
from engine.cli.plan_view import plan_document, print_plan
from engine.db import migrate
from engine.errors import InvalidDocument
from engine.services.planning import Plan, plan_campaign
from engine.services.validation import Checked, Renderer, validate_campaign

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def read_campaign(path: Path, templates: Renderer) -> Checked:
    """Validate one campaign file (InvalidDocument lists every violation)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidDocument([f"{path}: not UTF-8 text ({exc.reason})"]) from exc
    return validate_campaign(text, str(path), templates)


@click.command()
@click.argument("files", nargs=-1, required=True, type=FILE)
@click.pass_obj
def validate(ctx: Context, files: tuple[Path, ...]) -> None:
    """Check campaign FILES: schema, references, segment, templates and their variables.

    Prints every violation as file:line:col field.path: reason, and warnings
    (SMS longer than one segment, no control group) that do not fail the file.
    Exits 1 if any file has a violation. Needs no database.
    """
    templates = renderer(ctx.settings)
    failed = 0
    for path in files:
        try:
            checked = read_campaign(path, templates)
        except InvalidDocument as exc:
            failed += 1
            for line in exc.violations:
                ctx.console.print(line, style="red", markup=False, highlight=False, soft_wrap=True)
            continue
        for line in checked.warnings:
            ctx.console.print(
                f"warning: {line}", style="yellow", markup=False, highlight=False, soft_wrap=True
            )
        ctx.console.print(
            f"[green]ok[/] {path} ({checked.spec.key})", highlight=False, soft_wrap=True
        )
    if failed:
        raise click.ClickException(f"{failed} of {len(files)} campaign file(s) invalid")


@click.command()
@click.argument("file", type=FILE)
@click.option(
    "--at",
    type=click.DateTime(),
    help="Plan as of this UTC time (default: now); relative dates in the segment use it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as a JSON document.")
@click.pass_obj
def plan(ctx: Context, file: Path, at: datetime | None, as_json: bool) -> None:
    """Show what campaign FILE would do, writing nothing.

    The audience funnel (matched by the segment, each exclusion, eligible),
    cell sizes, per step the volume, first send time and cost, one rendered
    sample message per cell, and warnings such as the smallest lift the
    control group can detect.
    """
    now = at.replace(tzinfo=UTC) if at else ctx.now()
    result = run_plan(ctx.adapters, file, now, ctx.console, quiet=as_json)
    if as_json:
        click.echo(json.dumps(plan_document(result), indent=2, ensure_ascii=False))
    else:
        print_plan(ctx.console, result)


def run_plan(adapters: Adapters, file: Path, now: datetime, console: Console, quiet: bool) -> Plan:
    checked = read_campaign(file, adapters.renderer)
    migrate.require_current(adapters.engine)
    args = (checked, adapters.policy(), adapters.audience, adapters.renderer, now)
    if quiet:
        return plan_campaign(*args, history=adapters.launches)
    with console.status(f"planning {checked.spec.key}"):
        return plan_campaign(*args, history=adapters.launches)
