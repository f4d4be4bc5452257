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
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection


def _sqlite_datetime(value: datetime) -> str:
    # "YYYY-MM-DD HH:MM:SS.ffffff" in UTC, the text SQLAlchemy's SQLite DateTime
    # stores (so both write paths sort and compare alike); isoformat is the fast way.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def timestamp_for(dialect: str) -> Callable[[datetime], Any]:
    """How a timezone-aware datetime goes to this database's driver."""
    return _sqlite_datetime if dialect == "sqlite" else _same


def _same(value: datetime) -> datetime:
    return value


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return _sqlite_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return _json_text(value)
    return value


def _postgres_value(value: Any) -> Any:
    # JSON as text, which COPY and an executed INSERT both read into jsonb;
    # psycopg's Jsonb would call the standard library's json.dumps per row.
    return _json_text(value) if isinstance(value, dict) else value  # psycopg adapts the rest


def _json_text(value: dict[str, Any]) -> str:
    if not value:
        return "{}"
    try:
        return orjson.dumps(value).decode()  # C, several times faster than json.dumps
    except TypeError:  # what orjson cannot write (a key that is not a string)
        return json.dumps(value)


def insert_many(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    typed: Collection[str],
) -> None:
    """INSERT `rows` (tuples in `columns` order): COPY on PostgreSQL, executemany on SQLite.

    `typed` names the columns that may hold datetimes, dates or dicts; every
    other value goes to the driver as it is (converting only where needed is
    what keeps this path fast).
    """
    if not rows:
        return
    rows = _converted(conn, columns, rows, typed)
    if conn.dialect.name == "postgresql":
        _copy(conn, table, columns, rows)
        return
    marks = ", ".join("?" * len(columns))
    _execute_many(conn, f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def update_many(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    typed: Collection[str],
) -> None:
    """UPDATE `table` SET `columns` WHERE id = the last value of each row tuple.

    PostgreSQL: COPY into a temporary table, then one UPDATE .. FROM (a
    statement per row would cost a round trip each). SQLite: executemany.
    """
    if not rows:
        return
    rows = _converted(conn, (*columns, "id"), rows, typed)
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


def _converted(
    conn: Connection, columns: Sequence[str], rows: Sequence[Sequence[Any]], typed: Collection[str]
) -> Sequence[Sequence[Any]]:
    convert = _sqlite_value if conn.dialect.name == "sqlite" else _postgres_value
    slots = [index for index, column in enumerate(columns) if column in typed]
    if not slots:
        return rows
    # Rows of a batch share objects (its `now`, empty attribute dicts): convert
    # each object once. Keyed by id(), valid while `rows` keeps them alive.
    done: dict[int, Any] = {}
    out = []
    for row in rows:
        values = list(row)
        for index in slots:
            value = values[index]
            if value is not None:
                key = id(value)
                if key not in done:
                    done[key] = convert(value)
                values[index] = done[key]
        out.append(values)
    return out


def _copy(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()


def _execute_many(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()
