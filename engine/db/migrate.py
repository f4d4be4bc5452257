"""Schema migrations (Alembic), run from code: `campaign db upgrade`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from engine.errors import PermanentError, SchemaNotReady

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (idempotent)."""
    _migrating(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Step the schema back to `revision` (``base`` drops every table)."""
    _migrating(engine, lambda config: command.downgrade(config, revision))


class BrokenReferences(PermanentError):
    """A migration left rows whose foreign keys point nowhere; nothing was changed."""


def _migrating(engine: Engine, run: Callable[[Config], None]) -> None:
    """Run `run` in one transaction; SQLite with foreign keys off until it is checked.

    SQLite alters a table by copying it, dropping the old one and renaming the
    copy; with foreign keys on, dropping a table that other rows reference
    fails. SQLite's documented procedure: keys off outside the transaction,
    `foreign_key_check` before the commit.
    """
    config = alembic_config()
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _pragma(connection, "foreign_keys=OFF")
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                run(config)
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise BrokenReferences()
        finally:
            if sqlite:
                _pragma(connection, "foreign_keys=ON")


def _pragma(connection: Connection, setting: str) -> None:
    connection.exec_driver_sql(f"PRAGMA {setting}")
    connection.commit()  # no transaction: the pragma is a no-op inside one


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a new migration from the models (developer tool)."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)


def current(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def require_current(engine: Engine) -> None:
    """Raise `SchemaNotReady` unless the database is at the newest revision."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    at = current(engine)
    if at != head:
        raise SchemaNotReady(
            f"database schema is at {at or 'nothing'}, the engine needs {head}: "
            "run `campaign db upgrade`"
        )
