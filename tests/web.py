"""Flask apps for tests: the real app on the test's adapters, a test client, a fixed clock.

A test module makes its own fixture over the `adapters` fixture (so every
test runs on SQLite and PostgreSQL)::

    @pytest.fixture
    def site(adapters: Adapters) -> Site:
        return site_on(adapters)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient

from engine.bootstrap import Adapters, tracking
from engine.services.composing import Tracking
from engine.web import create_app

from .conftest import NOW
from .fakes import FakeClock


@dataclass
class Site:
    """One app per test, as in the Flask tutorial; move `clock.now` to move its time."""

    app: Flask
    client: FlaskClient
    clock: FakeClock
    tracking: Tracking  # makes the signed URLs the dispatcher puts in e-mails


def site_on(adapters: Adapters, now: datetime = NOW) -> Site:
    """The web app on `adapters`, its test client and its clock (at `now`)."""
    clock = FakeClock(now)
    app = create_app(adapters=adapters, clock=clock)
    app.testing = True
    return Site(app, app.test_client(), clock, tracking(adapters.settings))


def path_of(url: str) -> str:
    """The path and query of an absolute URL: what the test client requests."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
