"""`campaign metrics refresh` and `campaign customers summary`."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click
from rich.console import Console

from engine.bootstrap import Adapters
from engine.cli.context import Context
from engine.cli.ui import table
from engine.db.summary import summarize
from engine.services.metrics import refresh_metrics


@click.group()
def metrics() -> None:
    """Derived customer metrics: recency, frequency, monetary value, lifecycle."""


@metrics.command()
@click.option(
    "--as-of",
    type=click.DateTime(),
    help="Compute as of this UTC time (default: now); orders after it are ignored.",
)
@click.pass_obj
def refresh(ctx: Context, as_of: datetime | None) -> None:
    """Recompute RFM scores, RFM segment, lifecycle stage and value tier for every customer."""
    run_refresh(ctx.adapters, ctx.console, as_of.replace(tzinfo=UTC) if as_of else ctx.now())


def run_refresh(adapters: Adapters, console: Console, as_of: datetime) -> None:
    started = time.perf_counter()
    with console.status("refreshing customer metrics"):
        written = refresh_metrics(adapters.metrics, adapters.metric_rules(), as_of)
    console.print(
        f"metrics refreshed for {written:,} customers as of "
        f"{as_of:%Y-%m-%d %H:%M} UTC in {time.perf_counter() - started:.1f} s"
    )


@click.group()
def customers() -> None:
    """Look at the customer base."""


@customers.command("summary")
@click.pass_obj
def summary(ctx: Context) -> None:
    """Customers by source, lifecycle stage, RFM segment and value tier."""
    print_summary(ctx.adapters, ctx.console)


def print_summary(adapters: Adapters, console: Console) -> None:
    base = summarize(adapters.engine)
    currency = adapters.settings.currency.base
    console.print(
        f"[bold]{base.customers:,}[/] customers, [bold]{base.orders:,}[/] orders, "
        f"revenue {base.revenue_cents / 100:,.2f} {currency}; "
        f"{base.multi_source:,} customers merged from more than one source"
    )

    def share(rows: tuple[tuple[str, int], ...]) -> list[tuple[str, int, str]]:
        return [(name, n, f"{n / max(base.customers, 1):.1%}") for name, n in rows]

    console.print(table("customers by source", ["source", "origin", "customers"], base.by_source))
    console.print(
        table(
            "customers by lifecycle stage",
            ["stage", "customers", "share"],
            share(base.by_lifecycle),
        )
    )
    console.print(
        table("customers by RFM segment", ["segment", "customers", "share"], share(base.by_segment))
    )
    console.print(
        table("customers by value tier", ["tier", "customers", "share"], share(base.by_tier))
    )
