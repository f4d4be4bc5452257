"""`campaign db`: schema migrations."""

from __future__ import annotations

import click

from engine.cli.context import Context
from engine.db import migrate


@click.group()
def db() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""


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
