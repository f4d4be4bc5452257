"""The production entry point: ``gunicorn 'engine.web.wsgi:app'`` (config from the environment)."""

from __future__ import annotations

from engine.config import load_settings
from engine.web import production_app

app = production_app(load_settings())
