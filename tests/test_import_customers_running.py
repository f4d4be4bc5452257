"""Customer import, how it runs: column mapping, BOM, batches, worker
processes, planner statistics, files refused."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from engine.bootstrap import Adapters
from engine.db import customers as db_customers
from engine.errors import InputFileError

from .conftest import NOW
from .helpers import load_customers, read_rejects, rows, write_csv
from .test_import_customers import HEADER


def test_column_mapping_bom_and_many_batches(adapters: Adapters, tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    lines = ["Kundennummer,E-Mail,Ort"] + [f"K{i},p{i}@example.com,Ort{i}" for i in range(250)]
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n")
    mapping = {"external_id": "Kundennummer", "email": "E-Mail", "city": "Ort"}
    object.__setattr__(adapters.settings.imports, "batch_size", 100)  # three batches
    summary = load_customers(adapters, path, overrides=mapping)
    assert (summary.counts.read, summary.counts.inserted) == (250, 250)
    customers = rows(adapters, "customers")
    assert (customers[-1]["external_id"], customers[-1]["city"]) == ("K249", "Ort249")
    assert customers[0]["attributes"] == {}


def test_a_file_without_identifying_columns_is_refused(adapters: Adapters, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", ["name", "city"], [["Li", "Xian"]])
    with pytest.raises(InputFileError, match="no identifying column"):
        load_customers(adapters, path)
    assert rows(adapters, "customers") == []


def test_parsing_in_worker_processes_gives_the_same_result(
    adapters: Adapters, tmp_path: Path
) -> None:
    data = [
        [f"K{i}", "", "", f"p{i // 5}@example.com", "", f"Ort{i}", "", "", "", "yes", ""]
        for i in range(300)
    ] + [["K999", "", "", "broken", "", "", "", "", "", "", ""]]
    path = write_csv(tmp_path / "c.csv", HEADER, data)
    object.__setattr__(adapters.settings.imports, "batch_size", 100)
    object.__setattr__(adapters.settings.imports, "workers", 2)  # 301 rows > 2 batches: a pool
    pooled = load_customers(adapters, path)
    assert (pooled.counts.read, pooled.counts.inserted, pooled.counts.merged) == (301, 60, 240)
    assert [r["line"] for r in read_rejects(pooled.rejects_path)] == ["302"]
    object.__setattr__(adapters.settings.imports, "workers", 1)  # the same file, in-process
    again = load_customers(adapters, path, now=NOW + timedelta(days=1))
    assert (again.counts.inserted, again.counts.merged, again.counts.unchanged) == (0, 0, 300)
    customers = rows(adapters, "customers")
    assert len(customers) == 60
    assert customers[-1]["city"] == "Ort299"  # the last row of a person wins


def test_postgresql_statistics_follow_the_tables_an_import_grows(
    adapters: Adapters, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without fresh statistics PostgreSQL planned each batch's key lookups
    as scans of every customer; the store analyses as the tables double."""
    monkeypatch.setattr(db_customers, "ANALYZE_FIRST", 10)
    path = write_csv(
        tmp_path / "c.csv",
        ["external_id", "email"],
        [[f"K{i}", f"p{i}@example.com"] for i in range(50)],
    )
    object.__setattr__(adapters.settings.imports, "batch_size", 10)
    object.__setattr__(adapters.settings.imports, "workers", 1)
    analysed: list[int] = []

    @event.listens_for(adapters.engine, "before_cursor_execute")
    def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("ANALYZE customers"):
            analysed.append(len(rows_now(conn)))

    def rows_now(conn: Any) -> list[Any]:
        return conn.exec_driver_sql("SELECT id FROM customers").all()

    summary = load_customers(adapters, path)
    assert summary.counts.inserted == 50
    if adapters.engine.dialect.name == "postgresql":
        assert analysed == [10, 40, 50]  # fourfold growth, then once more at the end
    else:
        assert analysed == []  # SQLite: PRAGMA optimize at the end
