"""Benchmark: credit an order history to campaign contacts, on SQLite and PostgreSQL.

Fills the database as bench_plan.py does (N customers, 3N orders over three
years), launches one campaign to everyone (two cells and a control, a
90-day response window from 1 Sep 2026), marks every order as written by one
import, then runs the order-import hook (`credit_orders` for that import
batch): pages of 5,000 orders, one contact-history read and one insert per
page. Prints orders per second and the attribution counts, then runs the
backfill form (`campaign import credit-orders`: every order of the source
without a response), which must find nothing to do.

    .venv/bin/python bench/bench_responses.py [--customers N] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench_import import _database  # type: ignore[import-not-found]
from bench_launch import CAMPAIGN  # type: ignore[import-not-found]
from bench_plan import NOW, ROOT, fill  # type: ignore[import-not-found]
from sqlalchemy import text

from engine.bootstrap import bootstrap, codebook
from engine.db import migrate
from engine.db.attribution import SqlResponseUnits
from engine.db.connect import make_engine
from engine.services.launching import launch_campaign
from engine.services.responding import campaign_rules, credit_orders
from engine.services.validation import validate_campaign
from engine.settings import Settings

START = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
TEXT = CAMPAIGN.replace("start: 2026-11-04 10:00", "start: 2026-09-01 10:00").replace(
    "steps:", "response: {window: 90d}\nsteps:"
)


def run(kind: str, workdir: Path, customers: int) -> None:
    url, cleanup = _database(kind, workdir)
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        print(f"{kind:10s} fill    {fill(engine, customers)}", flush=True)
        engine.dispose()
        settings = Settings.model_validate({"templates_dir": str(ROOT / "templates")})
        adapters = bootstrap(settings, url)
        checked = validate_campaign(TEXT, "bench.yaml", adapters.renderer)
        launch_campaign(
            checked, TEXT, adapters.policy(), adapters.launches, codebook(settings), START
        )
        rules = campaign_rules(adapters.launches.all(), adapters.zone)
        units = SqlResponseUnits(adapters.engine)
        batch = adapters.log.begin(
            kind="orders", source_name="bench", origin="internal", file_name="bench.csv",
            file_sha256="0" * 64, now=NOW,
        )  # fmt: skip
        with adapters.engine.begin() as conn:  # as if one import had inserted them all
            conn.execute(text("UPDATE orders SET import_batch_id = :b"), {"b": batch})
        for label, scope in (("hook", batch), ("again", None)):
            started = time.perf_counter()
            done = credit_orders(units, rules, codebook(settings), "bench", NOW, scope)
            seconds = time.perf_counter() - started
            total = sum(done.values())
            rate = f"{total / seconds:,.0f} orders/s" if total else "nothing to do"
            print(
                f"{kind:10s} {label:6s}  {seconds:6.2f} s  {total:,} responses ({rate}); "
                + ", ".join(f"{k} {done[k]:,}" for k in ("direct", "inferred", "none")),
                flush=True,
            )
        adapters.engine.dispose()
    finally:
        cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=33_334)  # 100k orders
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    for kind in [args.only] if args.only else ["sqlite", "postgresql"]:
        with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp:
            run(kind, Path(tmp), args.customers)


if __name__ == "__main__":
    main()
