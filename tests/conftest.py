"""Fixtures: a freshly migrated database per test, on SQLite and on PostgreSQL.

SQLite: the schema is built once per session through the Alembic migrations
into a template file, which each test copies. PostgreSQL: one throwaway
database per session (``engine_test_<random>``), migrated once, emptied before
each test and dropped at the end. PostgreSQL tests run whenever a server is
reachable at ``$ENGINE_TEST_POSTGRES_URL`` (default: the local ``test``
database); with ``ENGINE_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) an
unreachable server fails the run instead of skipping those tests.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from engine.bootstrap import Adapters, bootstrap
from engine.db import migrate
from engine.db.connect import make_engine
from engine.db.models import Base
from engine.settings import Settings

PG_ADMIN_URL = os.environ.get(
    "ENGINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _postgres_reachable() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any driver or network error means "not reachable"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}: {exc}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schema") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    problem = _postgres_reachable()
    if problem:
        if os.environ.get("ENGINE_REQUIRE_POSTGRES") == "1":
            pytest.fail(problem + " (ENGINE_REQUIRE_POSTGRES=1)")
        pytest.skip(problem)
    name = f"engine_test_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty, fully migrated database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "engine.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return _emptied(request.getfixturevalue("postgres_database"))


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """URL of the empty PostgreSQL test database (for tests of concurrent workers)."""
    return _emptied(postgres_database)


def _emptied(url: str) -> str:
    engine = make_engine(url)
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        # A transaction an earlier, failed test left open fails this test's
        # setup after 30 s instead of hanging the whole suite.
        conn.execute(text("SET LOCAL lock_timeout = '30s'"))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.model_validate(
        {
            "imports": {"rejects_dir": str(tmp_path / "rejects")},
            "currency": {"rates": {"USD": "7.10"}},
        }
    )


@pytest.fixture
def adapters(database_url: str, settings: Settings) -> Iterator[Adapters]:
    built = bootstrap(settings, database_url)
    yield built
    built.engine.dispose()
