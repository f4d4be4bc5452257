"""`campaign serve`: the web app for development (gunicorn in production)."""

from __future__ import annotations

import click

from engine.cli.context import Context
from engine.db import migrate


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.pass_obj
def serve(ctx: Context, host: str, port: int) -> None:
    """Serve tracking, unsubscribe and webhook endpoints and the dashboard (/dashboard/)
    with Flask's development server (docs/dashboard.md: users, secret key, TLS).

    In production run gunicorn instead, e.g.
    `gunicorn --workers 4 --bind 0.0.0.0:8000 'engine.web.wsgi:app'`, with
    the configuration from ENGINE_CONFIG and ENGINE_* variables, behind a TLS
    proxy whose public URL is `sender.public_url` (Twilio signatures are
    checked against it).
    """
    from engine.web import create_app  # Flask loads only for this command

    migrate.require_current(ctx.adapters.engine)
    create_app(adapters=ctx.adapters).run(host=host, port=port)
