"""`campaign dashboard-user NAME`: the config line that lets NAME into the dashboard."""

from __future__ import annotations

import secrets

import click


@click.command("dashboard-user")
@click.argument("name")
@click.option("--token", is_flag=True, help="Make an API token for scripts instead.")
def dashboard_user(name: str, token: bool) -> None:
    """Print a line for `dashboard.users` (password asked twice, never echoed).

    With --token: a new random API token, shown once, and the line for
    `dashboard.tokens` holding only its SHA-256.
    """
    from engine.web.auth import password_hash, token_digest  # Flask loads only here

    if token:
        made = secrets.token_urlsafe(32)
        click.echo(
            f"token (shown once; send it as 'Authorization: Bearer <token>'): {made}", err=True
        )
        click.echo("dashboard:\n  tokens:")
        click.echo(f'    {name}: "{token_digest(made)}"')
        return
    password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 10:
        raise click.ClickException("use at least 10 characters")
    click.echo("dashboard:\n  users:")
    click.echo(f'    {name}: "{password_hash(password)}"')
