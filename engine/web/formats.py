"""How the dashboard prints values: times, money, shares, p-values, table cells."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Blueprint

from engine.web.charts import percent


def when(value: datetime | date | None) -> str:
    """``2026-11-01 12:00`` (UTC as stored), a date as ``2026-11-01``, None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def money(cents: float | None, currency: str = "") -> str:
    """Hundredths as ``1,234.56`` (and the currency when given); None as a dash."""
    if cents is None:
        return "–"
    return f"{cents / 100:,.2f}" + (f" {currency}" if currency else "")


def share(value: float | None) -> str:
    """A rate as a percentage; None (nothing to divide by) as a dash."""
    return "–" if value is None else percent(value)


def points(value: float | None) -> str:
    """A difference of rates in percentage points, signed: ``+1.2 pp``."""
    return "–" if value is None else f"{value * 100:+.2f} pp"


def p_value(value: float | None) -> str:
    """``< 0.0001`` for tiny p-values, else four decimals."""
    if value is None:
        return "–"
    return "< 0.0001" if value < 0.0001 else f"{value:.4f}"


def cell(value: Any) -> str:
    """Any stored value for a table cell: times formatted, empty as a dash."""
    if value is None or value == "" or value == {}:
        return "–"
    if isinstance(value, datetime | date):
        return when(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def register(blueprint: Blueprint) -> None:
    """Make the formats template filters of every page."""
    for function in (when, money, share, points, p_value, cell):
        blueprint.add_app_template_filter(function)
