"""Benchmark: `campaign simulate` of a 10,000-customer multi-step campaign over 14 days.

Fills a database set-based with N customers (e-mail consent for all, SMS
consent for half, one customer source each), then simulates the win-back
shape of campaigns/winback.yaml with an audience of everyone: an e-mail
offer, a reminder within 20 minutes of an open (expiring after 20 minutes),
an SMS nudge when not opened after 3 days and a call when not responded
after 7 days. Prints the wall time of the whole run (copy, launch, ticks,
callbacks), the ticks and the messages.

    .venv/bin/python bench/bench_simulate.py [--customers N] [--only sqlite|postgresql]

Target: a 10k-customer campaign over 14 days well under a minute.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench_import import _database  # type: ignore[import-not-found]
from sqlalchemy import insert

from engine.bootstrap import bootstrap
from engine.cli.simulate import run_simulation
from engine.core.simulation.model import ResponseModel
from engine.db import migrate
from engine.db.models import Consent, Customer, CustomerSource, ImportBatch
from engine.services.simulating import Run
from engine.settings import Settings

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
CAMPAIGN = (Path(__file__).resolve().parents[1] / "campaigns" / "winback.yaml").read_text(
    encoding="utf-8"
)
EVERYONE = CAMPAIGN[: CAMPAIGN.index("audience:")] + CAMPAIGN[CAMPAIGN.index("groups:") :]


def fill(url: str, n: int) -> None:
    engine = bootstrap(Settings(), url).engine
    migrate.upgrade(engine)
    at = START - timedelta(days=400)
    with engine.begin() as conn:
        batch = conn.execute(
            insert(ImportBatch).returning(ImportBatch.id),
            [
                {
                    "kind": "customers",
                    "source_name": "shop",
                    "origin": "internal",
                    "file_name": "bench",
                    "file_sha256": "0" * 64,
                    "started_at": at,
                }
            ],
        ).scalar_one()
        conn.execute(
            insert(Customer),
            [
                {
                    "id": i,
                    "external_id": f"c{i}",
                    "first_name": f"C{i}",
                    "origin": "internal",
                    "source_name": "shop",
                    "trust": 100,
                    "data_as_of": at,
                    "created_at": at,
                    "updated_at": at,
                    "attributes": {},
                    "email": f"c{i}@example.com",
                    "phone": f"+86139{i:08d}",
                    "timezone": "Asia/Shanghai",
                    "country": "CN",
                }
                for i in range(1, n + 1)
            ],
        )
        conn.execute(
            insert(CustomerSource),
            [
                {
                    "customer_id": i,
                    "source_name": "shop",
                    "origin": "internal",
                    "source_ref": f"c{i}",
                    "trust": 100,
                    "import_batch_id": batch,
                    "first_seen_at": at,
                }
                for i in range(1, n + 1)
            ],
        )
        conn.execute(
            insert(Consent),
            [
                {
                    "customer_id": i,
                    "channel": channel,
                    "status": "granted",
                    "recorded_at": at,
                    "source": "bench",
                    "evidence": "form",
                }
                for i in range(1, n + 1)
                for channel in (("email", "sms") if i % 2 else ("email",))
            ],
        )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        file = workdir / "winback-everyone.yaml"
        file.write_text(EVERYONE, encoding="utf-8")
        for kind in [args.only] if args.only else ["sqlite", "postgresql"]:
            url, drop = _database(kind, workdir)
            try:
                fill(url, args.customers)
                settings = Settings.model_validate({"database": {"url": url}})
                began = time.perf_counter()
                timeline = run_simulation(
                    settings,
                    file,
                    ResponseModel(),
                    Run(START, args.days, ZoneInfo("Asia/Shanghai")),
                )
                seconds = time.perf_counter() - began
            finally:
                drop()
            sends = sum(timeline.messages.values())
            print(
                f"{kind:10} {args.customers:,} customers, {args.days} days: {seconds:.1f} s "
                f"({timeline.ticks} ticks, {sends:,} messages, "
                f"{sum(timeline.reactions.values()):,} reactions)",
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(main())
