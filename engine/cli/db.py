"""`campaign db`: schema migrations and referential checks."""

from __future__ import annotations

import click
from rich.table import Table

from engine.cli.context import Context
from engine.db import integrity, migrate, tallies


@click.group()
def db() -> None:
    """Create or upgrade the database schema (Alembic migrations); check its keys."""


@db.command()
@click.pass_obj
def upgrade(ctx: Context) -> None:
    """Apply all pending migrations to the configured database."""
    engine = ctx.adapters.engine
    migrate.upgrade(engine)
    ctx.console.print(
        f"database {engine.url.render_as_string(hide_password=True)} "
        f"is at revision {migrate.current(engine)}"
    )


@db.command()
@click.pass_obj
def current(ctx: Context) -> None:
    """Show the schema revision of the configured database."""
    ctx.console.print(migrate.current(ctx.adapters.engine) or "empty (run `campaign db upgrade`)")


@db.command()
@click.pass_obj
def check(ctx: Context) -> None:
    """Find rows whose campaign, cell, customer or contact is missing.

    `contacts` and `sends` carry no foreign keys (a launch would check each
    of its million rows one by one); nothing in the engine deletes their
    parents, and this proves it. Exits with status 1 when any row is found.
    """
    findings = integrity.check(ctx.adapters.engine)
    table = Table("check", "rows", title="referential checks")
    for finding in findings:
        table.add_row(finding.check, f"{finding.rows:,}" if finding.rows else "0 (holds)")
    ctx.console.print(table)
    if any(finding.rows for finding in findings):
        raise SystemExit(1)


@db.command()
@click.pass_obj
def recount(ctx: Context) -> None:
    """Rebuild the report tallies from the contacts and sends themselves.

    Triggers keep the tallies in every transaction; this is for a database
    whose rows were written with the triggers bypassed. Reads every contact
    and send once and blocks writers to them meanwhile.
    """
    with ctx.console.status("recounting contacts and sends"):
        tallies.recount(ctx.adapters.engine)
    ctx.console.print("report tallies rebuilt from the rows")
