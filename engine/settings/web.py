"""Settings of the web dashboard."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    Field,
)

from engine.settings.base import Frozen


class DashboardSettings(Frozen):
    """Who may open the dashboard, and how its session cookie is set (docs/dashboard.md)."""

    # name -> werkzeug password hash (`campaign dashboard-user NAME` prints one).
    users: dict[str, str] = Field(default_factory=dict)
    # name -> SHA-256 hex of an API token, sent as `Authorization: Bearer <token>`.
    tokens: dict[str, Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(
        default_factory=dict
    )
    # Signs the session cookie: set ENGINE_DASHBOARD__SECRET_KEY. Unset: a
    # random key per process (sessions end on restart; one worker only).
    secret_key: Annotated[str, Field(min_length=32)] | None = None
    # Secure cookies travel over HTTPS only: keep true behind TLS in production.
    session_cookie_secure: bool = True
    session_hours: Annotated[int, Field(ge=1, le=24 * 30)] = 12
