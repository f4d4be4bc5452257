"""Bulk writes straight through the driver, for the import hot paths.

SQLAlchemy's per-row parameter processing costs more than the database
itself at import volumes (tens of microseconds per row), so the batch
writers of the imports pass plain tuples to the driver: ``COPY`` on
PostgreSQL, ``executemany`` on SQLite (in-process, no round trips).
Values are converted here exactly as the column types would convert them,
so rows written either way read back the same.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Connection

SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"  # what sqlalchemy's SQLite DateTime stores
PLAIN = frozenset({str, int, float, bool, type(None)})  # passed to every driver as they are


@lru_cache(maxsize=4096)  # the batch's `now` repeats on every row
def _sqlite_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime(SQLITE_DATETIME)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return _sqlite_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def _postgres_value(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, dict) else value


def insert_many(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """INSERT `rows` (tuples in `columns` order): COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        _copy(conn, table, columns, rows)
        return
    marks = ", ".join("?" * len(columns))
    _execute_many(conn, f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def update_many(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """UPDATE `table` SET `columns` WHERE id = the last value of each row tuple.

    PostgreSQL: COPY into a temporary table, then one UPDATE .. FROM (a
    statement per row would cost a round trip each). SQLite: executemany.
    """
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        sets = ", ".join(f"{column} = ?" for column in columns)
        _execute_many(conn, f"UPDATE {table} SET {sets} WHERE id = ?", rows)
        return
    staged = f"_update_{table}"
    names = ", ".join(columns)
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {staged}")
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {staged} ON COMMIT DROP AS SELECT {names}, id FROM {table} WITH NO DATA"
    )
    _copy(conn, staged, (*columns, "id"), rows)
    sets = ", ".join(f"{column} = s.{column}" for column in columns)
    conn.exec_driver_sql(f"UPDATE {table} t SET {sets} FROM {staged} s WHERE t.id = s.id")


def _copy(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    plain = PLAIN
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([v if type(v) in plain else _postgres_value(v) for v in row])
    finally:
        cursor.close()


def _execute_many(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    plain = PLAIN
    params = [tuple(v if type(v) in plain else _sqlite_value(v) for v in row) for row in rows]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, params)
    finally:
        cursor.close()
