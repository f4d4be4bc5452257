"""Small helpers shared by tests: CSV files, imports, table snapshots."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import select

from engine.bootstrap import Adapters
from engine.cli.imports import import_customer_file, import_order_file, parse_source
from engine.core.counts import ImportSummary
from engine.db.models import Base

from .conftest import NOW


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


def load_customers(
    adapters: Adapters, path: Path, source: str = "internal", now: datetime = NOW, **kw: Any
) -> ImportSummary:
    spec = parse_source(source, kw.pop("trust", None), adapters)
    return import_customer_file(adapters, quiet(), path, spec, now=now, **kw)


def load_orders(
    adapters: Adapters, path: Path, source: str = "internal", now: datetime = NOW, **kw: Any
) -> ImportSummary:
    return import_order_file(adapters, quiet(), path, source, now=now, **kw)


def rows(adapters: Adapters, table: str, order_by: str = "id") -> list[dict[str, Any]]:
    t = Base.metadata.tables[table]
    with adapters.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(t).order_by(t.c[order_by]))]


def snapshot(adapters: Adapters) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table: what "changes nothing" is checked against."""
    return {
        name: rows(adapters, name, table.primary_key.columns[0].name)  # throttles: by channel
        for name, table in Base.metadata.tables.items()
    }


def read_rejects(path: str | None) -> list[dict[str, str]]:
    assert path is not None, "expected a rejects file"
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))
