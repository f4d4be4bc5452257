"""The schema is built by the migrations, and they agree with the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, insert, inspect, select

from engine.db import migrate
from engine.db.connect import make_engine
from engine.db.models import Base, Campaign, Contact, Customer, OutboxMessage, Send
from engine.errors import PermanentError, SchemaNotReady

from .conftest import NOW


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    migrate.require_current(engine)
    engine.dispose()


def test_upgrade_is_idempotent_and_downgrade_returns_to_empty(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)  # already at head: a no-op
    assert migrate.current(engine) == "0011"
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    with pytest.raises(SchemaNotReady, match="campaign db upgrade"):
        migrate.require_current(engine)
    migrate.upgrade(engine)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_upgrading_keeps_rows_that_reference_a_rebuilt_table(database_url: str) -> None:
    # 0005 rebuilds `sends` on SQLite (it drops two of its foreign keys) while
    # outbox rows reference it: the copy-drop-rename must not trip the keys.
    engine = make_engine(database_url)
    migrate.downgrade(engine, "0004")
    at = {"created_at": NOW, "updated_at": NOW}
    with engine.begin() as conn:
        conn.execute(
            insert(Customer),
            {"id": 1, "external_id": "c1", "origin": "internal", "source_name": "shop"}
            | {"trust": 100, "data_as_of": NOW, "attributes": {}}
            | at,
        )
        conn.execute(
            insert(Campaign),
            {"id": 1, "key": "k", "name": "K", "kind": "batch", "spec_yaml": "", "spec_hash": ""}
            | {"salt": "", "status": "running", "starts_at": NOW}
            | at,
        )
        conn.execute(
            insert(Contact),
            {"id": 1, "campaign_id": 1, "customer_id": 1, "status": "treated", "entered_at": NOW},
        )
        conn.execute(
            insert(Send),
            {"id": 1, "contact_id": 1, "campaign_id": 1, "customer_id": 1, "step": "s"}
            | {"channel": "email", "due_at": NOW, "state": "queued", "attempts": 0}
            | at,
        )
        conn.execute(
            insert(OutboxMessage),
            {"send_id": 1, "channel": "email", "recipient": "a@example.com", "text": "t"}
            | {"headers": {}, "created_at": NOW},
        )
    migrate.upgrade(engine)
    assert migrate.current(engine) == "0011"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(OutboxMessage)).scalar() == 1
        assert conn.execute(select(Send.customer_id)).scalar() == 1
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_sqlite_files_use_write_ahead_logging(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/new/dir/e.sqlite3")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_a_sqlite_too_old_for_the_statements_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.db import connect

    monkeypatch.setattr(connect.sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(connect.sqlite3, "sqlite_version", "3.31.1")
    with pytest.raises(
        PermanentError, match=r"SQLite 3\.31\.1 is too old: the engine needs 3\.35\.0"
    ):
        make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    assert not (tmp_path / "old.sqlite3").exists()


def test_0010_looks_up_a_changed_sends_contact_compresses_bodies_with_lz4_and_goes_back(
    postgres_url: str,
) -> None:
    # Same counts either way (tests/test_tallies.py); the lookup is the plan
    # that does not hash every contact for a webhook batch's few sends.
    engine = make_engine(postgres_url)
    migrate.upgrade(engine)

    def trigger_sql() -> str:
        with engine.connect() as conn:
            return str(
                conn.exec_driver_sql(
                    "SELECT pg_get_functiondef('tally_sends_updated'::regproc)"
                ).scalar_one()
            )

    assert "LIMIT 1" in trigger_sql()
    with engine.connect() as conn:
        compression = conn.exec_driver_sql(
            "SELECT attcompression FROM pg_attribute"
            " WHERE attrelid = 'webhook_batches'::regclass AND attname = 'body'"
        ).scalar_one()
    assert compression == "l"  # lz4 (this server has it)
    migrate.downgrade(engine, "0008")
    assert "LIMIT 1" not in trigger_sql()
    assert "JOIN contacts AS c ON c.id = ch.contact_id" in trigger_sql()
    migrate.upgrade(engine)
    engine.dispose()
