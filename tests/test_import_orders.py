"""Order import: set-based, idempotent, unknown customers rejected never dropped."""

from __future__ import annotations

import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from engine.bootstrap import Adapters, bootstrap
from engine.core.orders import OrderRecord
from engine.settings import Settings

from .helpers import load_customers, load_orders, read_rejects, rows, snapshot, write_csv

ORDERS = [
    "order_id",
    "customer_id",
    "ordered_at",
    "amount",
    "currency",
    "quantity",
    "channel",
    "category",
    "brand",
]


def _customers(adapters: Adapters, tmp_path: Path) -> None:
    write_csv(
        tmp_path / "c.csv",
        ["external_id", "email"],
        [["C1", "a@example.com"], ["C2", "b@example.com"], ["C3", "a@example.com"]],
    )
    load_customers(adapters, tmp_path / "c.csv")


def test_orders_attach_to_customers_and_bad_rows_are_explained(
    adapters: Adapters, tmp_path: Path
) -> None:
    _customers(adapters, tmp_path)
    path = write_csv(
        tmp_path / "o.csv",
        ORDERS,
        [
            ["O1", "C1", "2026-10-01T10:00:00Z", "129.90", "CNY", "2", "web", "shoes", "acme"],
            ["O2", "C3", "2026-10-02 09:30:00", "10", "USD", "", "", "", ""],
            ["O3", "C9", "2026-10-03T10:00:00Z", "5.00", "CNY", "1", "web", "", ""],
            ["O4", "C2", "2026-02-30T10:00:00Z", "5.00", "CNY", "1", "web", "", ""],
            ["O5", "C2", "2026-10-03T10:00:00Z", "abc", "CNY", "1", "web", "", ""],
            ["O6", "C2", "2026-10-03T10:00:00Z", "5.00", "XYZ", "1", "web", "", ""],
            ["O7", "C2", "2027-01-01T10:00:00Z", "5.00", "CNY", "1", "web", "", ""],
            ["O8", "C2", "2026-10-03T10:00:00Z", "5.00", "CNY", "0", "web", "", ""],
            ["", "C2", "2026-10-03T10:00:00Z", "5.00", "CNY", "1", "web", "", ""],
            ["O1", "C2", "2026-10-04T10:00:00Z", "7.00", "CNY", "1", "web", "", ""],
        ],
    )
    summary = load_orders(adapters, path)
    assert (summary.counts.read, summary.counts.inserted, summary.counts.rejected) == (10, 2, 7)
    assert summary.counts.unchanged == 1  # the second O1
    reasons = {int(r["line"]): r["reason"] for r in read_rejects(summary.rejects_path)}
    assert reasons == {
        4: "unknown customer 'C9' in source 'internal'",
        5: "invalid timestamp '2026-02-30T10:00:00Z' (expected ISO 8601)",
        6: "invalid amount 'abc'",
        7: "currency 'XYZ' has no exchange rate to CNY in config",
        8: "ordered_at '2027-01-01T10:00:00Z' is in the future",
        9: "invalid quantity '0': must be a whole number >= 1",
        10: "missing order_id",
    }
    first, second = rows(adapters, "orders")
    c1 = rows(adapters, "customers")[0]["id"]
    assert (first["customer_id"], first["amount_cents"], first["base_amount_cents"]) == (
        c1,
        12990,
        12990,
    )
    assert (first["quantity"], first["channel"], first["category"], first["brand"]) == (
        2,
        "web",
        "shoes",
        "acme",
    )
    assert first["ordered_at"] == datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
    # C3 was merged into C1's customer (same e-mail): its orders follow it.
    assert (second["customer_id"], second["currency"], second["base_amount_cents"]) == (
        c1,
        "USD",
        7100,
    )
    assert second["ordered_at"] == datetime(2026, 10, 2, 1, 30, tzinfo=UTC)  # naive = Asia/Shanghai
    assert second["quantity"] == 1


def test_reimporting_orders_changes_nothing(adapters: Adapters, tmp_path: Path) -> None:
    _customers(adapters, tmp_path)
    path = write_csv(
        tmp_path / "o.csv",
        ORDERS,
        [
            [
                f"O{i}",
                f"C{1 + i % 2}",
                f"2026-09-{1 + i % 28:02d}T10:00:00Z",
                f"{i}.50",
                "CNY",
                "1",
                "",
                "",
                "",
            ]
            for i in range(1, 40)
        ],
    )
    load_orders(adapters, path)
    before = snapshot(adapters)
    again = load_orders(adapters, path)
    after = snapshot(adapters)
    after.pop("import_batches"), before.pop("import_batches")
    assert after == before
    assert (again.counts.inserted, again.counts.unchanged, again.counts.rejected) == (0, 39, 0)
    assert again.rejects_path is None


def test_order_ids_are_unique_per_source_and_customers_resolve_by_source(
    adapters: Adapters, tmp_path: Path
) -> None:
    _customers(adapters, tmp_path)
    path = write_csv(
        tmp_path / "o.csv",
        ORDERS,
        [["O1", "C1", "2026-10-01T10:00:00Z", "1.00", "", "", "", "", ""]],
    )
    load_orders(adapters, path)
    pos = load_orders(adapters, path, source="pos", customer_source="internal")
    assert pos.counts.inserted == 1
    assert [(r["source_name"], r["external_order_id"]) for r in rows(adapters, "orders")] == [
        ("internal", "O1"),
        ("pos", "O1"),
    ]
    unknown = load_orders(adapters, path, source="pos2")  # customer ids looked up in 'pos2'
    assert unknown.counts.rejected == 1


def test_sqlite_finds_each_orders_customer_by_probe_not_by_reading_every_customer(
    sqlite_template: Path, settings: Settings, tmp_path: Path
) -> None:
    """At 1M customers a join to customer_sources made SQLite build a Bloom
    filter over the whole table for every batch (the order import fell from
    52k to 21k rows/s); the batch's statements must probe the index instead."""
    path = tmp_path / "engine.sqlite3"
    shutil.copy(sqlite_template, path)
    adapters = bootstrap(settings, f"sqlite:///{path}")
    _customers(adapters, tmp_path)
    with adapters.engine.begin() as conn:  # statistics as after importing 1M customers
        conn.exec_driver_sql("ANALYZE")
        conn.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl = 'customer_sources'")
        conn.exec_driver_sql(
            "INSERT INTO sqlite_stat1 VALUES ('customer_sources', 'uq_customer_sources_ref',"
            " '1000000 1000000 1'), ('customer_sources', NULL, '1000000')"
        )
    adapters.engine.dispose()  # new connections read the statistics
    plans: list[str] = []

    @event.listens_for(adapters.engine, "before_cursor_execute")
    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "customer_sources" in statement and "order_stage" in statement:
            found = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            plans.append(" / ".join(row[3] for row in found))

    orders = [["O1", "C1", "2026-10-01T10:00:00Z", "1.00", "", "", "", "", ""]]
    summary = load_orders(adapters, write_csv(tmp_path / "o.csv", ORDERS, orders))
    adapters.engine.dispose()
    assert summary.counts.inserted == 1
    assert plans and all(
        "USING" in plan and "INDEX uq_customer_sources_ref" in plan for plan in plans
    )
    assert not [plan for plan in plans if "BLOOM" in plan or "SCAN cs" in plan]


def test_a_batch_that_deadlocks_with_another_writer_runs_again(
    postgres_url: str, settings: Settings, tmp_path: Path
) -> None:
    """Two PostgreSQL writers inserting the same order ids in crossing order
    deadlock; the server aborts one, and that batch runs once more."""
    adapters = bootstrap(settings, postgres_url)
    _customers(adapters, tmp_path)
    adapters.engine.dispose()

    @event.listens_for(adapters.engine, "connect")
    def patient(dbapi: Any, _record: Any) -> None:  # room for the other to start waiting
        dbapi.execute("SET deadlock_timeout = '3s'")
        dbapi.commit()

    store = adapters.orders("internal")
    assert store.writers == 2
    other = adapters.engine.connect()  # the other writer, holding O2 and then wanting O1
    insert = text(
        "INSERT INTO orders (customer_id, source_name, external_order_id, ordered_at,"
        " amount_cents, currency, base_amount_cents, quantity)"
        " SELECT id, 'internal', :ref, now(), 100, 'CNY', 100, 1 FROM customers WHERE id = 1"
    )
    other.exec_driver_sql("SET deadlock_timeout = '60s'")  # so that the store is the victim
    other.execute(insert, {"ref": "O2"})
    records = [_record(1, "O1"), _record(2, "O2")]
    result: list[Any] = []
    loading = threading.Thread(target=lambda: result.append(store.load(records, "internal", 1)))
    loading.start()
    try:
        _wait_for_lock_wait(adapters, other)
        other.execute(insert, {"ref": "O1"})  # waits for the store's O1: a deadlock, it aborts
        other.commit()
    finally:  # whatever happened, release the store: a waiting thread would hang the suite
        other.close()
        loading.join(timeout=30)
    refs = [r["external_order_id"] for r in rows(adapters, "orders")]
    adapters.engine.dispose()
    assert result == [(0, [])]  # the second run found both orders there
    assert sorted(refs) == ["O1", "O2"]


def _record(line: int, ref: str) -> OrderRecord:
    at = datetime(2026, 10, 1, 10, tzinfo=UTC)
    return OrderRecord(line, ref, "C1", at, 100, "CNY", 100, 1, None, None, None)


def _wait_for_lock_wait(adapters: Adapters, other: Any) -> None:
    """Until a backend of this database but the other writer waits for a lock (30 s at most).

    Each look is its own transaction: PostgreSQL keeps one snapshot of
    pg_stat_activity per transaction, and a loop inside one never saw the
    store connect when it connected after the first look (under load).
    """
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND datname = current_database() AND pid NOT IN (:other, pg_backend_pid())"
    )
    pid = other.connection.dbapi_connection.info.backend_pid
    with adapters.engine.connect() as conn:
        for _ in range(3000):
            found = conn.execute(waiting, {"other": pid}).scalar_one()
            conn.rollback()
            if found:
                return
            time.sleep(0.01)
        doing = conn.execute(
            text(
                "SELECT pid, state, wait_event_type, wait_event, left(query, 60)"
                " FROM pg_stat_activity WHERE datname = current_database()"
            )
        ).all()
    raise AssertionError(f"the store never waited for the other writer (other: {pid}): {doing}")


def test_orders_parsed_in_worker_processes_give_the_same_result(
    adapters: Adapters, tmp_path: Path
) -> None:
    _customers(adapters, tmp_path)
    data = [
        [
            f"O{i}",
            "C9" if i % 50 == 7 else f"C{1 + i % 2}",  # C9: unknown, its cells read again
            f"2026-10-{1 + i % 28:02d}T10:00:00Z",
            "abc" if i % 60 == 3 else f"{i}.25",  # a bad row: its cells come back from the worker
            "CNY",
            "1",
            "web",
            "",
            "",
        ]
        for i in range(300)
    ]
    path = write_csv(tmp_path / "o.csv", ORDERS, data)
    object.__setattr__(adapters.settings.imports, "batch_size", 100)
    object.__setattr__(adapters.settings.imports, "workers", 2)  # 300 rows > 2 batches: a pool
    pooled = load_orders(adapters, path)
    object.__setattr__(adapters.settings.imports, "workers", 1)  # the same file, in process
    later = datetime(2026, 11, 2, tzinfo=UTC)
    alone = load_orders(adapters, path, source="pos", customer_source="internal", now=later)
    assert pooled.counts == alone.counts
    assert (pooled.counts.inserted, pooled.counts.rejected) == (289, 11)
    assert read_rejects(pooled.rejects_path) == read_rejects(alone.rejects_path)
    by_source: dict[str, list[tuple[Any, ...]]] = {"internal": [], "pos": []}
    for order in rows(adapters, "orders"):
        by_source[order["source_name"]].append(
            (
                order["external_order_id"],
                order["customer_id"],
                order["amount_cents"],
                order["ordered_at"],
            )
        )
    assert sorted(by_source["internal"]) == sorted(by_source["pos"])  # two writers: any id order
