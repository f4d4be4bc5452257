"""One scheduler at a time: a PostgreSQL advisory lock, or a file lock on SQLite."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

# pg_advisory_lock key of the scheduler (any constant the engine owns).
SCHEDULER_LOCK = 0x63616D70  # "camp"


class LeaderLock:
    """Held for the life of the scheduler process; released when it exits.

    PostgreSQL: ``pg_try_advisory_lock`` on a connection of its own, so the
    lock dies with the process (or its connection) and a standby scheduler
    takes over. SQLite: an exclusive ``flock`` on a file beside the database,
    released by the kernel when the process dies.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Any = None
        self._file: IO[str] | None = None

    def acquire(self) -> bool:
        """Take the lock if it is free; True when this process holds it."""
        if self._conn is not None or self._file is not None:
            return True
        if self._engine.dialect.name == "postgresql":
            conn = self._engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": SCHEDULER_LOCK})
            if got.scalar():
                self._conn = conn
                return True
            conn.close()
            return False
        handle = self._lock_path().open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._conn is not None:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SCHEDULER_LOCK})
            self._conn.close()
            self._conn = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def _lock_path(self) -> Path:
        database = make_url(str(self._engine.url)).database
        if not database or database == ":memory:":
            return Path("var/scheduler.lock")
        return Path(database).with_suffix(".scheduler.lock")
