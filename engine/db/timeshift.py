"""Time arithmetic in SQL that reads the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Interval, func, literal, type_coerce

from engine.db.types import UTCDateTime


def plus(dialect: str, value: Any, wait: timedelta) -> Any:
    """`value + wait` as a UTC timestamp in either dialect.

    SQLite keeps ``YYYY-MM-DD HH:MM:SS.ffffff`` text: strftime gives
    milliseconds, padded back to six digits so comparisons stay textual.
    """
    if not wait:
        return type_coerce(value, UTCDateTime())
    if dialect == "sqlite":
        shifted = func.strftime(
            "%Y-%m-%d %H:%M:%f", value, f"{wait.total_seconds():+.3f} seconds"
        ).op("||")("000")
        return type_coerce(shifted, UTCDateTime())
    return type_coerce(value + literal(wait, Interval()), UTCDateTime())
