"""Benchmark: the metrics refresh alone, over 1,000,000 customers and 3,000,000 orders.

The data is written straight with SQL (seconds, not minutes), so the refresh
can be measured on its own. Prints the refresh time and the peak memory of a
fresh process, on SQLite and on PostgreSQL.

    .venv/bin/python bench/bench_metrics.py [--customers N] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench_import import _database  # type: ignore[import-not-found]
from sqlalchemy import text

from engine.bootstrap import bootstrap
from engine.db import migrate
from engine.services.metrics import refresh_metrics
from engine.settings import Settings

NOW = datetime(2026, 11, 1, tzinfo=UTC)
FILL = {
    "sqlite": [
        """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :customers)
           INSERT INTO customers (id, origin, source_name, trust, data_as_of, created_at,
                                  updated_at, attributes)
           SELECT i, 'internal', 'bench', 100, '2026-01-01 00:00:00.000000',
                  '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000', '{}' FROM n""",
        """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :orders)
           INSERT INTO orders (customer_id, source_name, external_order_id, ordered_at,
                               amount_cents, currency, base_amount_cents, quantity)
           SELECT (i * 7919) % (:customers * 88 / 100) + 1, 'bench', 'O' || i,
                  datetime('2026-11-01', '-' || ((i * 104729) % 1095) || ' days') || '.000000',
                  (i * 31) % 100000 + 500, 'CNY', (i * 31) % 100000 + 500, 1 FROM n""",
    ],
    "postgresql": [
        """INSERT INTO customers (id, origin, source_name, trust, data_as_of, created_at,
                                 updated_at, attributes)
           SELECT i, 'internal', 'bench', 100, now(), now(), now(), '{}'
           FROM generate_series(1, :customers) AS i""",
        """INSERT INTO orders (customer_id, source_name, external_order_id, ordered_at,
                               amount_cents, currency, base_amount_cents, quantity)
           SELECT (i::bigint * 7919) % (:customers * 88 / 100) + 1, 'bench', 'O' || i,
                  timestamptz '2026-11-01' - ((i::bigint * 104729) % 1095) * interval '1 day',
                  (i::bigint * 31) % 100000 + 500, 'CNY', (i::bigint * 31) % 100000 + 500, 1
           FROM generate_series(1, :orders) AS i""",
        "ANALYZE customers, orders",
    ],
}


def run(kind: str, workdir: Path, customers: int) -> None:
    url, cleanup = _database(kind, workdir)
    try:
        adapters = bootstrap(Settings(), url)
        migrate.upgrade(adapters.engine)
        with adapters.engine.begin() as conn:
            for statement in FILL[kind]:
                conn.execute(text(statement), {"customers": customers, "orders": 3 * customers})
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        written = refresh_metrics(adapters.metrics, adapters.metric_rules(), NOW)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        adapters.engine.dispose()
        print(
            f"{kind:10s} metrics refresh  {written:,} customers in {seconds:.1f} s, "
            f"peak memory {peak:,.0f} MB ({before:,.0f} MB before the refresh)",
            flush=True,
        )
    finally:
        cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp:
            run(args.only, Path(tmp), args.customers)
        return
    for kind in [args.only] if args.only else ["sqlite", "postgresql"]:
        command = [
            sys.executable,
            __file__,
            "--child",
            "--only",
            kind,
            "--customers",
            str(args.customers),
        ]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
