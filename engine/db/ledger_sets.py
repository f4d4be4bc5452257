"""Set-based ledger writes: a whole batch as ONE JSON parameter per statement.

Building parameters in Python costs more than the writes: on PostgreSQL a
multi-row VALUES list of 1,000 events (12,000 placeholders), an
executemany of 1,000 UPDATEs or text arrays (psycopg quotes each element
through a regular expression); on SQLite an executemany, where SQLAlchemy
runs every value of every row through its type processors (two thirds of
a SendGrid batch's time). Here the rows of a batch are serialised by
orjson (C) into one JSON document and the database expands it
(PostgreSQL ``json_to_recordset``, SQLite ``json_each``): the event insert
and the one update of the batch's sends are one statement and one
parameter each. The statements are built from code constants only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import orjson
from sqlalchemy import Connection, text

from engine.core.tracking.events import DELIVERY_RANK
from engine.db import bulk

# Column -> PostgreSQL type of the event insert (the keys of every row).
EVENT_COLUMNS: Final[dict[str, str]] = {
    "event_key": "varchar",
    "source": "varchar",
    "kind": "varchar",
    "send_id": "bigint",
    "campaign_id": "bigint",
    "customer_id": "bigint",
    "occurred_at": "timestamptz",
    "recorded_at": "timestamptz",
    "machine": "boolean",
    "url": "text",
    "detail": "jsonb",
    "batch_id": "bigint",
}
_NAMES: Final = ", ".join(EVENT_COLUMNS)
_INSERT: Final = text(
    f"INSERT INTO events ({_NAMES}) SELECT {_NAMES} FROM json_to_recordset(CAST(:rows AS json))"
    f" AS r({', '.join(f'{name} {kind}' for name, kind in EVENT_COLUMNS.items())})"
    " ON CONFLICT (event_key) DO NOTHING RETURNING event_key"
)
_SEND_CHANGE: Final = ("sid", "status", "rank", "at", "opened", "clicked")


def _sqlite_rows(columns: Sequence[str]) -> str:
    """The rows of a JSON array parameter as a SQLite subquery with these columns.

    ``json_extract`` gives SQL values (JSON true/false as 1/0, as SQLite
    stores booleans) and an object as its JSON text, as a JSON column holds
    it; unlike ``->>`` (3.38) it needs no newer SQLite than RETURNING (3.35).
    """
    picked = ", ".join(f"json_extract(value, '$.{name}') AS {name}" for name in columns)
    return f"(SELECT {picked} FROM json_each(:rows))"


# SQLite reads an INSERT .. SELECT's ON CONFLICT as a join constraint
# unless the SELECT has a WHERE clause.
_SQLITE_INSERT: Final = text(
    f"INSERT INTO events ({_NAMES}) SELECT {_NAMES} FROM"
    f" {_sqlite_rows(list(EVENT_COLUMNS))} WHERE true"
    " ON CONFLICT (event_key) DO NOTHING RETURNING event_key"
)
# A send's delivery status as its rank (the same SQL on SQLite).
SEND_RANK: Final = (
    "(CASE sends.delivery "
    + " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in DELIVERY_RANK.items())
    + " ELSE 0 END)"
)
# One row per send (the caller reduces a batch to that: the best-ranked
# status and the earliest human open and click), so the join never meets a
# send twice; each send row is updated once, and the report tallies'
# statement triggers run once for the whole batch. The status only moves
# up in rank; LEAST ignores NULLs, so an open or click time only moves earlier.
_SENDS: Final = text(
    "UPDATE sends SET"
    f" delivery = CASE WHEN v.rank > {SEND_RANK} THEN v.status ELSE sends.delivery END,"
    f" delivery_at = CASE WHEN v.rank > {SEND_RANK} THEN v.at ELSE sends.delivery_at END,"
    " opened_at = LEAST(sends.opened_at, v.opened),"
    " clicked_at = LEAST(sends.clicked_at, v.clicked)"
    " FROM json_to_recordset(CAST(:rows AS json)) AS v(sid bigint, status varchar, rank int,"
    " at timestamptz, opened timestamptz, clicked timestamptz)"
    f" WHERE sends.id = v.sid AND (v.rank > {SEND_RANK}"
    " OR LEAST(sends.opened_at, v.opened) IS DISTINCT FROM sends.opened_at"
    " OR LEAST(sends.clicked_at, v.clicked) IS DISTINCT FROM sends.clicked_at)"
)
# The same on SQLite, whose min() of a NULL is NULL: an open or click time
# is taken when the send has none or a later one. SQLite stores times as
# sortable text, so comparing the texts compares the times.
_SQLITE_FIRSTS: Final = {"opened_at": "opened", "clicked_at": "clicked"}  # send column: change
_SQLITE_EARLIER: Final = {
    column: f"(v.{change} IS NOT NULL AND (sends.{column} IS NULL OR sends.{column} > v.{change}))"
    for column, change in _SQLITE_FIRSTS.items()
}
_SQLITE_SENDS: Final = text(
    "UPDATE sends SET"
    f" delivery = CASE WHEN v.rank > {SEND_RANK} THEN v.status ELSE sends.delivery END,"
    f" delivery_at = CASE WHEN v.rank > {SEND_RANK} THEN v.at ELSE sends.delivery_at END,"
    + ",".join(
        f" {column} = CASE WHEN {_SQLITE_EARLIER[column]} THEN v.{change} ELSE sends.{column} END"
        for column, change in _SQLITE_FIRSTS.items()
    )
    + f" FROM {_sqlite_rows(_SEND_CHANGE)} AS v"
    f" WHERE sends.id = v.sid AND (v.rank > {SEND_RANK} OR "
    + " OR ".join(_SQLITE_EARLIER.values())
    + ")"
)


def insert_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert event rows whose key is new (ON CONFLICT DO NOTHING); returns the inserted keys.

    Every row has the keys of `EVENT_COLUMNS`; times are timezone-aware.
    """
    statement = _INSERT if conn.dialect.name == "postgresql" else _SQLITE_INSERT
    return set(conn.execute(statement, {"rows": _json(conn, rows)}).scalars().all())


def update_sends(conn: Connection, changes: Sequence[dict[str, Any]]) -> None:
    """Apply one change per send: ``sid``, ``status``/``rank``/``at`` (rank 0: no status),
    ``opened`` and ``clicked`` (None: none in the batch)."""
    statement = _SENDS if conn.dialect.name == "postgresql" else _SQLITE_SENDS
    conn.execute(statement, {"rows": _json(conn, changes)})


def _json(conn: Connection, rows: Sequence[dict[str, Any]]) -> str:
    """The rows as one JSON array. PostgreSQL reads aware datetimes in RFC 3339
    with their offset (orjson's form); SQLite gets the stored form of
    `engine.db.types.UTCDateTime` (naive UTC, microseconds)."""
    if conn.dialect.name == "postgresql":
        return orjson.dumps(rows).decode()
    return orjson.dumps(rows, default=_sqlite_time, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()


_SQLITE_TIME: Final = bulk.timestamp_for("sqlite")  # the form the bulk writers store too


def _sqlite_time(value: Any) -> str:
    """orjson's fallback for SQLite: an aware datetime in its stored form; else TypeError."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise TypeError(f"cannot store {value!r} as a UTC time")
    return str(_SQLITE_TIME(value))
