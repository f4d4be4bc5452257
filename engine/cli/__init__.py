"""`campaign`: the command line of the campaign engine.

Run `campaign --help`, or `campaign COMMAND --help` for any command.
"""

from __future__ import annotations

from pathlib import Path

import click

from engine.cli.campaigns import plan, validate
from engine.cli.context import Context
from engine.cli.db import db
from engine.cli.demo import demo
from engine.cli.followups import followups
from engine.cli.imports import import_
from engine.cli.launch import cancel, enter, launch, pause, resume, status
from engine.cli.metrics import customers, metrics
from engine.cli.report import report
from engine.cli.schedule import scheduler
from engine.cli.send import dispatch, outbox, worker
from engine.cli.serve import serve
from engine.cli.simulate import simulate
from engine.cli.users import dashboard_user
from engine.errors import EngineError


class EngineGroup(click.Group):
    """Engine errors are user errors here: print them cleanly, exit 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except EngineError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(
    cls=EngineGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    envvar="ENGINE_CONFIG",
    help="Config file (default: ./config.yaml; env ENGINE_CONFIG).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Campaign automation engine for direct marketing.

    Typical flow: `campaign db upgrade`, `campaign import customers FILE`,
    `campaign import orders FILE`, `campaign metrics refresh`, then
    `campaign customers summary`; then write a campaign file and run
    `campaign validate FILE` and `campaign plan FILE`, `campaign launch
    FILE` (`campaign simulate FILE` first shows what its rules will do),
    and `campaign dispatch` (or run `campaign scheduler`); `campaign
    report KEY` shows the results.
    `campaign demo` does all of it on generated data.
    """
    ctx.obj = Context(config_path)
    ctx.call_on_close(ctx.obj.close)


cli.add_command(db)
cli.add_command(import_)
cli.add_command(metrics)
cli.add_command(customers)
cli.add_command(demo)
cli.add_command(validate)
cli.add_command(plan)
for command in (
    launch,
    enter,
    pause,
    resume,
    cancel,
    status,
    report,
    dispatch,
    followups,
    simulate,
    worker,
    outbox,
    scheduler,
    serve,
    dashboard_user,
):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    cli()
