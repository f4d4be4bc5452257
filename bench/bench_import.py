"""Benchmark: import 1,000,000 customers and ~3,000,000 orders, refresh metrics.


Prints rows/s and CPU time per row (this process and its parser workers; on
PostgreSQL also the server backends) for both imports, the metrics refresh
time and peak memory, on SQLite and on PostgreSQL (each in its own process,
so peak memory is its own). On a shared machine CPU per row is the steadier
figure.

    .venv/bin/python bench/bench_import.py                   # both databases, 1M customers
    .venv/bin/python bench/bench_import.py --customers 100000 --only sqlite

Settings come from config.yaml with ENGINE_* overrides, as for `campaign
import` (the database and the rejects folder are the benchmark's own).

Targets on a 2-core machine (issue 2): customers >= 10,000 rows/s, orders
>= 50,000 rows/s, metrics refresh <= 30 s, peak memory <= 500 MB.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from engine.bootstrap import bootstrap
from engine.cli.imports import import_customer_file, import_order_file, parse_source
from engine.config import load_settings
from engine.db import migrate
from engine.demo.generate import (
    CUSTOMER_COLUMNS,
    ORDER_COLUMNS,
    DemoShape,
    internal_customers,
    orders,
)
from engine.services.metrics import refresh_metrics

NOW = datetime(2026, 11, 1, tzinfo=UTC)
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def generate(workdir: Path, customers: int) -> None:
    shape = DemoShape(customers=customers, prospects=0, seed=1)
    for name, columns, rows in (
        ("customers.csv", CUSTOMER_COLUMNS, internal_customers(shape, NOW)),
        ("orders.csv", ORDER_COLUMNS, orders(shape, NOW)),
    ):
        started = time.perf_counter()
        with (workdir / name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, columns)
            writer.writeheader()
            writer.writerows(rows)
        print(f"generated {name} in {time.perf_counter() - started:.1f} s", flush=True)


def run(kind: str, workdir: Path) -> None:
    url, cleanup = _database(kind, workdir)
    try:
        # config.yaml and ENGINE_* overrides (ENGINE_IMPORTS__WORKERS=1, say), as
        # `campaign import` reads them; the database and rejects are the benchmark's.
        loaded = load_settings(Path(__file__).resolve().parents[1] / "config.yaml")
        imports = loaded.imports.model_copy(update={"rejects_dir": workdir / "rejects"})
        settings = loaded.model_copy(update={"imports": imports})
        adapters = bootstrap(settings, url)
        backends = _backends(adapters.engine)
        migrate.upgrade(adapters.engine)
        quiet = Console(file=io.StringIO())
        source = parse_source("internal", None, adapters)
        report = {}
        for label, call in (
            (
                "customers",
                lambda: import_customer_file(
                    adapters, quiet, workdir / "customers.csv", source, now=NOW
                ),
            ),
            (
                "orders",
                lambda: import_order_file(
                    adapters, quiet, workdir / "orders.csv", "internal", now=NOW
                ),
            ),
        ):
            started, cpu = time.perf_counter(), _cpu(backends)
            summary = call()
            seconds, cpu = time.perf_counter() - started, _cpu(backends) - cpu
            rows = summary.counts.read
            report[label] = (
                f"{rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s; "
                f"CPU {cpu.client / rows * 1e6:.1f} us/row"
                + (f" + server {cpu.server / rows * 1e6:.1f} us/row" if backends else "")
                + f"; peak so far {_peak_mb():,.0f} MB"
            )
        started = time.perf_counter()
        written = refresh_metrics(adapters.metrics, adapters.metric_rules(), NOW)
        report["metrics refresh"] = (
            f"{written:,} customers in {time.perf_counter() - started:.1f} s"
        )
        report["peak memory"] = f"{_peak_mb():,.0f} MB"
        adapters.engine.dispose()
        for label, value in report.items():
            print(f"{kind:10s} {label:16s} {value}", flush=True)
    finally:
        cleanup()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass(frozen=True)
class Cpu:
    client: float  # this process and its finished children (the parser workers)
    server: float  # the PostgreSQL backends of the engine's connections

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.client - other.client, self.server - other.server)


def _cpu(backends: list[int]) -> Cpu:
    """CPU seconds used so far: on a shared machine the steadier figure than wall time.

    The parser workers are children of the forkserver, a live child of this
    process: their time shows in its reaped-children counters.
    """
    times = os.times()
    children = sum(_cpu_seconds(pid, reaped=True) for pid in _live_children())
    return Cpu(sum(times[:4]) + children, sum(_cpu_seconds(pid) for pid in backends))


def _live_children() -> list[int]:
    me, found = str(os.getpid()), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[1] == me:
                found.append(int(stat.parent.name))
        except OSError:
            continue
    return found


def _backends(engine: Engine) -> list[int]:
    """PostgreSQL backend process ids of the engine's connections, as they connect."""
    pids: list[int] = []
    if engine.dialect.name == "postgresql":

        @event.listens_for(engine, "connect")
        def remember(dbapi: Any, _record: Any) -> None:
            pids.append(dbapi.info.backend_pid)

    return pids


def _cpu_seconds(pid: int, reaped: bool = False) -> float:
    """User + system CPU seconds of a local process (0 once it has ended), with
    its reaped children's if `reaped`."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(value) for value in fields[11 : 15 if reaped else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def _database(kind: str, workdir: Path):  # type: ignore[no-untyped-def]
    if kind == "sqlite":
        path = workdir / "bench.sqlite3"
        for stale in workdir.glob("bench.sqlite3*"):
            stale.unlink()
        return f"sqlite:///{path}", lambda: None
    name = f"engine_bench_{secrets.token_hex(3)}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--workdir", type=Path, help="reuse generated files from here")
    args = parser.parse_args()
    if args.only and args.workdir:
        run(args.only, args.workdir)
        return
    with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        if not (workdir / "orders.csv").exists():
            generate(workdir, args.customers)
        for kind in [args.only] if args.only else ["sqlite", "postgresql"]:
            # A fresh process per database, so each peak-memory figure is its own.
            subprocess.run(
                [sys.executable, __file__, "--only", kind, "--workdir", str(workdir)], check=True
            )


if __name__ == "__main__":
    main()
