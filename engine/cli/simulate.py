"""`campaign simulate FILE --days N`: a time-travel dry run on a throwaway copy of the database."""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.progress import Progress

from engine.bootstrap import (
    Adapters,
    bootstrap,
    dispatch_ports,
    dispatch_rules,
    followup_options,
    followup_store,
    renderer,
)
from engine.cli.campaigns import FILE, read_campaign
from engine.cli.context import Context
from engine.cli.launch import run_launch
from engine.cli.simulate_callbacks import WebCallbacks
from engine.cli.simulate_view import print_simulation
from engine.core.campaign.values import parse_duration
from engine.core.simulation.model import ResponseModel
from engine.core.simulation.timeline import Timeline
from engine.db import migrate
from engine.db.dispatch import SqlDispatch
from engine.db.outbox import OutboxChannel
from engine.db.sandbox import throwaway_copy
from engine.db.simulation import SqlSimulation
from engine.services.dispatching import DispatchReport, Ports, dispatch_due
from engine.services.following import FollowupReport, SpecCache, run_followups
from engine.services.launching import LaunchReport
from engine.services.simulating import Run, read_model, refuse_if_launched, simulate_campaign
from engine.settings import Settings

WAYS = ("email", "sms", "mail", "call")


@click.command()
@click.argument("file", type=FILE)
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 366))
@click.option("--at", type=click.DateTime(), help="Launch as of this UTC time (default: now).")
@click.option(
    "--model",
    "model_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Response model YAML (default: the built-in model, docs/simulate.md).",
)
@click.option("--seed", default=42, show_default=True, help="Same seed, same reactions.")
@click.option(
    "--hourly-days",
    default=1,
    show_default=True,
    type=click.IntRange(0, 31),
    help="Days shown hour by hour.",
)
@click.option("--tick", default="5m", show_default=True, help="Scheduler tick the clock moves by.")
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as JSON.")
@click.pass_obj
def simulate(
    ctx: Context,
    file: Path,
    days: int,
    at: datetime | None,
    model_file: Path | None,
    seed: int,
    hourly_days: int,
    tick: str,
    as_json: bool,
) -> None:
    """Dry-run campaign FILE for N days on a throwaway copy of the database.

    Launches the campaign on a copy (SQLite: a backup into a temporary file;
    PostgreSQL: a temporary database, dropped afterwards), then moves a fake
    clock through the days: real dispatch passes (every channel to the
    outbox, never a provider), real follow-up passes, and reactions drawn
    from the response model (deliveries, bounces, opens, clicks, replies,
    unsubscribes, purchases) posted as signed callbacks to the real
    endpoints. Prints sends per day and hour, reactions, follow-ups fired,
    what was held back and why, and the expected cost. The configured
    database is never written.
    """
    try:
        step = parse_duration(tick)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--tick") from exc
    checked = read_campaign(file, ctx.adapters.renderer)
    spec = checked.spec
    model = ResponseModel()
    if model_file is not None:
        model = read_model(model_file.read_text(encoding="utf-8"), str(model_file), spec)
    start = at.replace(tzinfo=UTC) if at else ctx.now()
    zone = ZoneInfo(spec.schedule.timezone or ctx.settings.timezone)
    run = Run(start, days, zone, seed, step, hourly_days)
    migrate.require_current(ctx.adapters.engine)
    refuse_if_launched(SqlSimulation(ctx.adapters.engine), spec.key)  # before copying
    shown = Console(stderr=True) if as_json else ctx.console
    with Progress(console=shown, transient=True) as bar:
        task = bar.add_task(f"simulating {spec.key}: {days} days", total=1.0)
        timeline = run_simulation(
            ctx.settings, file, model, run, lambda done: bar.update(task, completed=done)
        )
    currency = spec.costs.currency or ctx.settings.currency.base
    if as_json:
        click.echo(json.dumps(timeline.as_json(spec.costs, currency), indent=2))
    else:
        print_simulation(ctx.console, spec, timeline, currency)


def run_simulation(
    settings: Settings,
    file: Path,
    model: ResponseModel,
    run: Run,
    progress: Callable[[float], None] = lambda done: None,
) -> Timeline:
    """Simulate campaign `file` on a throwaway copy of `settings`' database."""
    spec = read_campaign(file, renderer(settings)).spec
    with sandbox(settings) as adapters:
        world = World(adapters, file)
        callbacks = WebCallbacks(adapters, model.order_value)
        outbox = SqlSimulation(adapters.engine)
        return simulate_campaign(spec, model, world, outbox, callbacks, run, progress)


@contextmanager
def sandbox(settings: Settings) -> Iterator[Adapters]:
    """Adapters on a throwaway copy of the configured database (removed afterwards)."""
    with throwaway_copy(settings.database.url) as url:
        # The web app that takes the simulated callbacks needs a session key of its own.
        dashboard = settings.dashboard.model_copy(update={"secret_key": secrets.token_hex(16)})
        database = settings.database.model_copy(update={"url": url})
        copied = settings.model_copy(update={"database": database, "dashboard": dashboard})
        adapters = bootstrap(copied, url)
        try:
            yield adapters
        finally:
            adapters.engine.dispose()


@dataclass
class World:
    """The engine on the copy: the launch, follow-up and dispatch passes at a fixed time."""

    adapters: Adapters
    file: Path
    specs: SpecCache = field(default_factory=SpecCache)

    def __post_init__(self) -> None:
        self.ports: Ports = dispatch_ports(self.adapters)
        # No pacing: the clock stands still during a pass, so a throttle would
        # only split the due sends into tiny batches (its wait is not simulated).
        self.rules = replace(dispatch_rules(self.adapters, "simulation"), throttle={})
        self.store = followup_store(self.adapters)
        self.options = followup_options(self.adapters.settings)

    def launch(self, now: datetime) -> LaunchReport:
        return run_launch(self.adapters, self.file, now, Console(file=io.StringIO()))

    def follow_up(self, now: datetime) -> FollowupReport:
        return run_followups(self.store, self.adapters.launches, now, self.options, self.specs)

    def dispatch(self, now: datetime) -> DispatchReport:
        """One pass with every channel writing to the outbox (never a provider, never a file)."""

        def clock() -> datetime:
            return now

        ways = {name: OutboxChannel(self.adapters.engine, name, clock) for name in WAYS}
        return dispatch_due(self.ports, ways, self.rules, clock, lambda seconds: None)

    def next_due(self) -> datetime | None:
        return SqlDispatch(self.adapters.engine).next_due()
