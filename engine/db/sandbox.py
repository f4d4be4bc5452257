"""A throwaway copy of a database, for dry runs (`campaign simulate`).

- SQLite: the sqlite3 backup API copies one consistent snapshot of the
  file, opened read-only (the source file is never written, not even by a
  checkpoint), into a temporary file that is deleted afterwards.
- PostgreSQL: a new database ``engine_sim_<random>`` on the same server,
  migrated to the same head, every table streamed across with binary COPY
  inside one REPEATABLE READ snapshot of the source, sequences moved past
  the copied ids; dropped (WITH FORCE) at the end. ``CREATE DATABASE ..
  TEMPLATE`` would be quicker but refuses while any other session is
  connected to the source, and the scheduler and the web app always are.
"""

from __future__ import annotations

import secrets
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from engine.db import migrate, tallies
from engine.db.connect import make_engine
from engine.db.models import Base
from engine.errors import PermanentError


class CopyImpossible(PermanentError):
    """The database cannot be copied for a dry run."""


@contextmanager
def throwaway_copy(url: str) -> Iterator[str]:
    """The URL of a copy of the database at `url`, removed when the block ends."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        with _sqlite_copy(parsed.database) as copied:
            yield copied
    elif backend == "postgresql":
        with _postgres_copy(url) as copied:
            yield copied
    else:
        raise CopyImpossible(f"cannot copy a {backend} database: only SQLite and PostgreSQL")


@contextmanager
def _sqlite_copy(database: str | None) -> Iterator[str]:
    if not database or database == ":memory:":
        raise CopyImpossible("an in-memory SQLite database has nothing to copy")
    source = Path(database)
    if not source.is_file():
        raise CopyImpossible(f"{source} does not exist: run `campaign db upgrade` first")
    with tempfile.TemporaryDirectory(prefix="engine-sim-") as folder:
        target = Path(folder) / "simulation.sqlite3"
        try:
            reader = sqlite3.connect(f"file:{quote(str(source.resolve()))}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise CopyImpossible(f"cannot open {source} read-only: {exc}") from exc
        writer = sqlite3.connect(target)
        try:
            reader.backup(writer)
        except sqlite3.Error as exc:
            raise CopyImpossible(f"cannot copy {source}: {exc}") from exc
        finally:
            writer.close()
            reader.close()
        yield f"sqlite:///{target}"


@contextmanager
def _postgres_copy(url: str) -> Iterator[str]:
    name = f"engine_sim_{secrets.token_hex(4)}"
    admin = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except SQLAlchemyError as exc:
        admin.dispose()
        raise CopyImpossible(
            "PostgreSQL refused to create a throwaway database for the simulation "
            f"(the user needs the CREATEDB privilege): {exc.__class__.__name__}: {exc}"
        ) from exc
    copied = make_url(url).set(database=name).render_as_string(hide_password=False)
    try:
        target = make_engine(copied)
        try:
            migrate.upgrade(target)
            _copy_tables(admin, target)
        finally:
            target.dispose()
        yield copied
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _copy_tables(source: Engine, target: Engine) -> None:
    """Every table's rows from `source` to `target`, parents first, in one snapshot.

    The report tallies are not copied: the target's triggers count the
    copied contacts and sends as they arrive.
    """
    with source.connect() as read, target.begin() as write:
        read = read.execution_options(isolation_level="REPEATABLE READ")
        with read.begin():
            for table in Base.metadata.sorted_tables:
                if table.name in tallies.TABLES:  # the triggers count the copied rows
                    continue
                columns = ", ".join(f'"{c.name}"' for c in table.columns)
                _stream(read, write, f'"{table.name}" ({columns})')
        for table in Base.metadata.sorted_tables:
            if "id" in table.columns and table.columns["id"].autoincrement is not False:
                write.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f'COALESCE(MAX(id), 0) + 1, false) FROM "{table.name}"'
                    )
                )


def _stream(read: Connection, write: Connection, what: str) -> None:
    """COPY one table out of `read` and into `write`, chunk by chunk (binary format)."""
    out = read.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    into = write.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    with (
        out.copy(f"COPY {what} TO STDOUT (FORMAT BINARY)") as source,
        into.copy(f"COPY {what} FROM STDIN (FORMAT BINARY)") as sink,
    ):
        for chunk in source:
            sink.write(chunk)
