"""Bulk writes straight through the driver, for the import hot paths.

SQLAlchemy's per-row parameter processing costs more than the database
itself at import volumes (tens of microseconds per row), so the batch
writers of the imports pass plain tuples to the DB-API ``executemany``.
Values are converted here exactly as the column types would convert them,
so rows written either way read back the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Connection

SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"  # what sqlalchemy's SQLite DateTime stores


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime(SQLITE_DATETIME)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def _postgres_value(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, dict) else value


def converter(conn: Connection) -> Callable[[Any], Any]:
    """The Python -> driver value conversion for this connection's database."""
    return _sqlite_value if conn.dialect.name == "sqlite" else _postgres_value


def insert_many(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """INSERT `rows` (tuples in `columns` order) with one executemany."""
    marks = ", ".join([_mark(conn)] * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    _execute_many(conn, sql, rows)


def update_many(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """UPDATE `table` SET `columns` WHERE id = last value of each row tuple."""
    mark = _mark(conn)
    sets = ", ".join(f"{column} = {mark}" for column in columns)
    _execute_many(conn, f"UPDATE {table} SET {sets} WHERE id = {mark}", rows)


def _mark(conn: Connection) -> str:
    return "?" if conn.dialect.name == "sqlite" else "%s"


def _execute_many(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    convert = converter(conn)
    params = [tuple(convert(value) for value in row) for row in rows]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, params)
    finally:
        cursor.close()
