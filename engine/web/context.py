"""What every request handler shares: the adapters and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from engine.bootstrap import Adapters
from engine.web.applier import StatusApplier

# What a callback endpoint answers 503 to (the sender retries): the database unreachable or busy.
DATABASE_DOWN = (OperationalError, InterfaceError, PoolTimeout)


@dataclass(frozen=True)
class WebContext:
    adapters: Adapters
    clock: Callable[[], datetime]
    statuses: StatusApplier  # applies kept Twilio status callbacks


def engine_context() -> WebContext:
    """The context of the app serving the current request."""
    context: WebContext = current_app.extensions["engine"]
    return context
