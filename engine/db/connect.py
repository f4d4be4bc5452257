"""Build SQLAlchemy engines for the configured database."""

from __future__ import annotations

import json
import sqlite3
import time
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from engine.errors import PermanentError


def make_engine(url: str, echo: bool = False, sqlite_cache_mb: int = 64) -> Engine:
    """An engine for `url`; SQLite files get WAL, foreign keys, a busy timeout and a page cache.

    PostgreSQL connections are pinged before use only after `PING_IDLE`
    seconds unused (`_ping_if_idle`).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if sqlite3.sqlite_version_info < SQLITE_FLOOR:
            floor = ".".join(map(str, SQLITE_FLOOR))
            raise PermanentError(
                f"SQLite {sqlite3.sqlite_version} is too old: the engine needs {floor} or newer"
                " (INSERT .. RETURNING); use a Python built against a newer SQLite, or PostgreSQL"
            )
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed, echo=echo, connect_args={"timeout": 30}, json_deserializer=json_loads
        )
        event.listen(engine, "connect", partial(_sqlite_pragmas, sqlite_cache_mb))
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is what we ship
    engine = create_engine(parsed, echo=echo, json_deserializer=json_loads)
    event.listen(engine, "checkout", _ping_if_idle)
    event.listen(engine, "connect", _note_checkin)  # a new connection needs no ping
    event.listen(engine, "checkin", _note_checkin)
    return engine


# The oldest SQLite the statements run on (RETURNING arrived in 3.35).
SQLITE_FLOOR = (3, 35, 0)
# A pooled connection unused for this long is pinged before it is handed out.
PING_IDLE = 5.0


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """`pool_pre_ping`, only for connections idle for `PING_IDLE` seconds or more.

    A ping is a round trip, as dear as the statement of a busy webhook:
    a connection checked in moments ago is taken on trust. Raising
    `DisconnectionError` makes the pool retry on a fresh connection. What a
    restart catches inside the window fails once, as without a ping:
    SQLAlchemy then drops the pool's older connections too.

    The ping's implicit transaction is ended before the connection is handed
    out: left open, it refused an ``AUTOCOMMIT`` checkout ("can't change
    'autocommit' now"), so the first Twilio callback kept after an idle
    spell failed, and so did dropping a simulation's database.
    """
    if time.monotonic() - record.info.get("checked_in", 0.0) < PING_IDLE:
        return
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_connection.rollback()
    except Exception as error:
        raise DisconnectionError(str(error)) from error


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in"] = time.monotonic()


def json_loads(text: str | bytes) -> Any:
    """A JSON column's value: orjson (C, several times faster), and the standard
    library for what orjson refuses but `json.dumps` may have written (NaN)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _sqlite_pragmas(cache_mb: int, dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web app read while the scheduler writes; NORMAL sync is
    # durable across application crashes (only an OS crash can lose the tail).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA temp_store=MEMORY")
    # database.sqlite_cache_mb (the default is 2 MB): imports and the
    # metrics refresh walk indexes far larger than that.
    cursor.execute(f"PRAGMA cache_size=-{cache_mb * 1024}")
    # Checkpoint every ~40 MB of WAL instead of 4 MB: fewer, longer write-backs
    # during bulk imports; readers are unaffected.
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.close()
