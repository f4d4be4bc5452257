"""The web app: tracking, unsubscribe and webhook endpoints, and the dashboard (/dashboard).

`create_app` is the factory (one app per test, as in the Flask tutorial);
`engine.web.wsgi:app` is what gunicorn serves in production, built by
`production_app`.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import datetime

from flask import Flask

from engine.bootstrap import Adapters, bootstrap, utc_now
from engine.db.provider_events import SqlProviderEvents
from engine.services.ingesting_status import drain_statuses
from engine.settings import Settings
from engine.web import dashboard, hooks_business, hooks_providers, results, tracking
from engine.web.applier import StatusApplier
from engine.web.auth import configure_sessions
from engine.web.context import WebContext
from engine.web.twilio_status import TwilioStatusEndpoint


def create_app(
    settings: Settings | None = None,
    *,
    adapters: Adapters | None = None,
    clock: Callable[[], datetime] = utc_now,
    apply_in_background: bool = True,
) -> Flask:
    """A Flask app on `adapters` (or adapters built from `settings`).

    `apply_in_background` False: kept Twilio status callbacks wait for
    ``engine_context().statuses.drain()`` (a simulation on its own clock).
    """
    settings = settings or (adapters.settings if adapters else Settings())
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 32 * 1024 * 1024  # SendGrid batches are < 1 MB
    adapters = adapters or bootstrap(settings)
    store = SqlProviderEvents(adapters.engine)
    delay = settings.webhooks.twilio_status_delay_ms / 1000
    statuses = StatusApplier(
        lambda: drain_statuses(store, clock()), delay if apply_in_background else None
    )
    context = WebContext(adapters, clock, statuses)
    app.extensions["engine"] = context
    app.wsgi_app = TwilioStatusEndpoint(app.wsgi_app, context)  # type: ignore[method-assign]
    app.register_blueprint(tracking.blueprint)
    app.register_blueprint(hooks_providers.blueprint)
    app.register_blueprint(hooks_business.bp)
    configure_sessions(app, settings.dashboard)
    app.register_blueprint(dashboard.blueprint)
    app.register_blueprint(results.blueprint)
    return app


def production_app(settings: Settings) -> Flask:
    """`create_app` for a long-lived server process, its start-up objects frozen for the GC.

    Everything built until now (modules, the app, SQLAlchemy's metadata)
    lives as long as the process. A webhook batch allocates ~20,000
    objects, so the cyclic collector runs its full passes often; frozen,
    it no longer walks all of that each time (a third of a SendGrid batch's
    CPU before).
    """
    app = create_app(settings)
    gc.freeze()
    return app
