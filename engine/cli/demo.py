"""`campaign demo`: a realistic customer base built end to end on SQLite."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

import click
from rich.console import Console

from engine.bootstrap import Adapters, bootstrap
from engine.cli.campaigns import read_campaign, run_plan
from engine.cli.context import Context
from engine.cli.demo_callbacks import BUY, simulate
from engine.cli.followups import run_followup_pass
from engine.cli.imports import import_customer_file, import_order_file, parse_source
from engine.cli.launch import print_launch, run_launch
from engine.cli.metrics import print_summary, run_refresh
from engine.cli.plan_view import print_plan
from engine.cli.report import show_report
from engine.cli.send import print_dispatch, print_outbox, run_dispatch
from engine.cli.ui import table
from engine.db import migrate
from engine.db.dispatch import SqlDispatch
from engine.db.outbox import SqlOutboxReader
from engine.db.tracking_summary import SqlTrackingSummary
from engine.demo.generate import (
    CUSTOMER_COLUMNS,
    ORDER_COLUMNS,
    DemoShape,
    external_prospects,
    internal_customers,
    orders,
)

DEMO_CAMPAIGN = Path("campaigns/winback.yaml")


@click.command()
@click.option(
    "--customers",
    "size",
    default=10_000,
    show_default=True,
    type=click.IntRange(100, 5_000_000),
    help="Own customers to generate.",
)
@click.option("--seed", default=42, show_default=True, help="Random seed (same seed, same data).")
@click.option(
    "--dir",
    "workdir",
    default=Path("var/demo"),
    show_default=True,
    type=click.Path(path_type=Path),
    help="Where the demo database and files go.",
)
@click.pass_obj
def demo(ctx: Context, size: int, seed: int, workdir: Path) -> None:
    """Build a fresh demo database from generated customers and orders, and summarise it.

    Generates own customers with 2-3 years of orders, a bought prospect list
    that partly overlaps them, a few duplicates and deliberately bad rows;
    imports them through the normal import path (showing merges and the
    rejects report), refreshes metrics and prints the customer base by source,
    lifecycle stage, RFM segment and value tier. Then validates and plans the
    example campaign campaigns/winback.yaml against it, launches it (cells and
    the sample-ratio check) and dispatches its first sends through the
    outbox at their due times, showing what was sent.
    """
    now = ctx.now().replace(hour=0, minute=0, second=0, microsecond=0)
    shape = DemoShape(customers=size, prospects=max(size * 3 // 20, 10), seed=seed)
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "demo.sqlite3"
    for stale in workdir.glob("demo.sqlite3*"):
        stale.unlink()
    adapters = bootstrap(ctx.settings, f"sqlite:///{database}")
    migrate.upgrade(adapters.engine)
    console = ctx.console
    console.rule(f"[bold]demo: {size:,} customers, seed {seed}, as of {now:%Y-%m-%d}")
    files = {
        "customers.csv": (CUSTOMER_COLUMNS, internal_customers(shape, now)),
        "prospects.csv": (CUSTOMER_COLUMNS, external_prospects(shape, now)),
        "orders.csv": (ORDER_COLUMNS, orders(shape, now)),
    }
    with console.status("generating demo files"):
        for name, (columns, rows) in files.items():
            _write(workdir / name, columns, rows)
    rejects = workdir / "rejects"
    own = parse_source("internal", None, adapters)
    bought = parse_source("external:listco", None, adapters)
    for name, source in (("customers.csv", own), ("prospects.csv", bought)):
        import_customer_file(
            adapters, console, workdir / name, source, now=ctx.now(), rejects=rejects / name
        )
    import_order_file(
        adapters,
        console,
        workdir / "orders.csv",
        "internal",
        now=now,
        rejects=rejects / "orders.csv",
    )
    run_refresh(adapters, console, now)
    print_summary(adapters, console)
    if DEMO_CAMPAIGN.exists():
        console.rule(f"[bold]campaign validate and plan: {DEMO_CAMPAIGN}")
        print_plan(console, run_plan(adapters, DEMO_CAMPAIGN, ctx.now(), console, quiet=False))
        console.rule(f"[bold]campaign launch: {DEMO_CAMPAIGN}")
        print_launch(console, run_launch(adapters, DEMO_CAMPAIGN, ctx.now(), console))
        _dispatch(adapters, console)
        _callbacks(adapters, console, seed)
        spec = read_campaign(DEMO_CAMPAIGN, adapters.renderer).spec
        closes = SqlDispatch(adapters.engine).last_sent(spec.key)
        if closes is not None:  # as of the end of the last contact's response window
            console.rule(f"[bold]campaign report {spec.key}")
            show_report(console, adapters.engine, spec.key, closes + spec.response.window)
            truth = ", ".join(
                f"{cell} {rate - BUY['control']:+.1%}"
                for cell, rate in BUY.items()
                if cell != "control"
            )
            console.print(
                f"the demo's response model buys at {BUY['control']:.0%} in control, so the true "
                f"lifts are {truth} (in points): each interval above should cover its cell's.",
                highlight=False,
            )
    adapters.engine.dispose()
    console.print(f"demo database: {database} (use ENGINE_DATABASE_URL=sqlite:///{database})")


def _dispatch(adapters: Adapters, console: Console) -> None:
    """Dispatch the launched sends through the outbox, travelling to each due time."""
    outbox = SqlDispatch(adapters.engine)
    for _ in range(10):
        due = outbox.next_due()
        if due is None:
            break
        console.rule(f"[bold]campaign dispatch --at {due:%Y-%m-%d %H:%M} (UTC)")
        print_dispatch(console, run_dispatch(adapters, due))
    print_outbox(console, SqlOutboxReader(adapters.engine), None, 2)


def _callbacks(adapters: Adapters, console: Console, seed: int) -> None:
    """Simulated callbacks for the demo campaign through the real endpoints, then their effect.

    Follow-up rules run after every slot of opens (and a dispatch pass with
    them), so reminders due within 20 minutes of an open go out in time or
    are skipped as expired; the nudges and calls of later steps follow.
    """
    console.rule("[bold]callbacks: SendGrid events, opens, clicks, a STOP, purchases")
    spec = read_campaign(DEMO_CAMPAIGN, adapters.renderer).spec
    key = spec.key
    fired: Counter[tuple[str, str]] = Counter()
    sent: Counter[tuple[str, str]] = Counter()

    def tick(now: datetime) -> None:
        report = run_followup_pass(adapters, now)
        fired.update({(step, kind): n for (_, step, kind), n in report.fired.items()})
        fired.update({(step, why): n for (_, step, why), n in report.skipped.items()})
        sent.update(run_dispatch(adapters, now).states)

    with console.status("posting signed callbacks to the web app"):
        simulated = simulate(adapters, key, seed, spec.response.window, tick)
        last = SqlDispatch(adapters.engine).last_sent(key)
        for days in (
            (3, 7) if last else ()
        ):  # the absence rules' waits: nudge after 3d, call after 7d
            tick(last + timedelta(days=days, hours=1))
        _drain(adapters, sent)
    console.print(
        table(
            "callbacks posted",
            ["endpoint and answer", "requests"],
            sorted(simulated.answers.items()),
        )
    )
    counts = SqlTrackingSummary(adapters.engine).counts(key)
    events = [(kind, "machine" if machine else "", n) for kind, machine, n in counts["events"]]
    console.print(table("event ledger", ["kind", "", "events"], events))
    console.print(
        table("sends by delivery status", ["step", "delivery", "sends"], counts["delivery"])
    )
    money = [
        (cell, how, n, f"{(cents or 0) / 100:,.2f}") for cell, how, n, cents in counts["responses"]
    ]
    console.print(table("responses credited", ["cell", "attribution", "responses", "value"], money))
    if counts["withdrawn"]:
        console.print(
            table("consent withdrawn", ["channel", "source", "customers"], counts["withdrawn"])
        )
    rows = sorted((step, what, n) for (step, what), n in fired.items())
    heads = ["step", "trigger, or why not queued", "sends"]
    console.print(table("follow-ups the callbacks fired", heads, rows or [("-", "-", 0)]))
    went = sorted((channel, state, n) for (channel, state), n in sent.items())
    console.print(table("follow-up sends dispatched", ["channel", "state", "sends"], went))


def _drain(adapters: Adapters, sent: Counter[tuple[str, str]]) -> None:
    """Dispatch the queued follow-ups at their due times (they wait for send windows)."""
    outbox = SqlDispatch(adapters.engine)
    for _ in range(10):
        due = outbox.next_due()
        if due is None:
            break
        sent.update(run_dispatch(adapters, due).states)


def _write(path: Path, columns: tuple[str, ...], rows: Iterable[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
