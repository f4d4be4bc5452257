"""INSERT .. ON CONFLICT DO NOTHING on either database: the engine's idempotent writes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert


def insert_new(conn: Connection, table: Any, keys: Sequence[str] | None = None) -> Any:
    """An INSERT into `table` that skips rows whose unique `keys` (any unique key) exist.

    Retried webhooks, re-imported files and replayed dispatches write the
    same rows again; this keeps the first and never raises on the second.
    """
    maker = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return maker(table).on_conflict_do_nothing(index_elements=list(keys) if keys else None)


def insert_ignoring_duplicates(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert `rows`, skipping those a unique key already holds."""
    conn.execute(insert_new(conn, table), rows)
