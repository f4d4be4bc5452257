"""What every request handler shares: the adapters and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from engine.bootstrap import Adapters


@dataclass(frozen=True)
class WebContext:
    adapters: Adapters
    clock: Callable[[], datetime]


def engine_context() -> WebContext:
    """The context of the app serving the current request."""
    context: WebContext = current_app.extensions["engine"]
    return context
