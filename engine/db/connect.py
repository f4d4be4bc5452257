"""Build SQLAlchemy engines for the configured database."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def make_engine(url: str, echo: bool = False, sqlite_cache_mb: int = 64) -> Engine:
    """An engine for `url`; SQLite files get WAL, foreign keys, a busy timeout and a page cache."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, echo=echo, connect_args={"timeout": 30})
        event.listen(engine, "connect", partial(_sqlite_pragmas, sqlite_cache_mb))
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is what we ship
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


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
