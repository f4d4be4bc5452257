"""Benchmark: follow-up passes with 1,000,000 contacts pending, on SQLite and PostgreSQL.

The database is filled set-based (bench_plan's customers, then one running
campaign with a treated cell and a control, its contacts and their sent
offers, every one of them pending three follow-up rules: a reminder when
opened within 20 minutes, a nudge when not opened after 3 days, a rating
request 15 days after the offer). Then, with the watermarks of a scheduler:

1. the first pass queues the 15-day rating for every treated contact (rate),
2. passes with nothing due (target <= 50 ms each; the median of several),
3. 10% of the offers get an open, and a pass queues their reminders (rate),
4. the pass at sent + 3 days queues the nudge for everyone else (rate),
5. passes with nothing due again, now over 2,800,000 sends.

Each "nothing due" figure is the median of passes at 15 s intervals once the
lookback (60 s) has passed; the first pass after activity, which re-reads
the lookback, is printed beside it.

    .venv/bin/python bench/bench_followups.py [--contacts N] [--only sqlite|postgresql]

Targets (2-core machine): a pass with nothing due <= 50 ms; >= 20,000 follow-ups queued/s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_import import _database  # type: ignore[import-not-found]
from bench_plan import fill_statements  # type: ignore[import-not-found]
from sqlalchemy import Engine, text

from engine.bootstrap import bootstrap, followup_store
from engine.core.followups.rules import FollowupOptions
from engine.db import migrate
from engine.db.connect import make_engine
from engine.services.following import FollowupReport, SpecCache, run_followups
from engine.settings import Settings

SENT = datetime(2026, 11, 5, 2, 0, tzinfo=UTC)
CAMPAIGN = """\
key: bench-followups
name: Follow-up bench
groups:
  control: 10%
  cells:
    a: {share: 90%}
steps:
  - {id: offer, channel: email, template: winback/offer}
  - id: reminder
    channel: email
    template: winback/reminder
    when: {opened: offer, within: 20m}
  - id: nudge
    channel: sms
    template: winback/nudge
    when: {not_opened: offer, after: 3d}
  - id: rating
    channel: email
    template: winback/reminder
    when: {after: offer, delay: 15d}
"""


def at(kind: str, moment: datetime) -> object:
    """A bind value as each database stores it (SQLite: naive UTC text)."""
    return f"{moment:%Y-%m-%d %H:%M:%S}.000000" if kind == "sqlite" else moment


def fill(engine: Engine, contacts: int) -> str:
    """Customers, the campaign, contacts (90% treated) and their sent offers; returns timings."""
    kind = engine.dialect.name
    customers = dict(fill_statements(kind))["customers"]
    t0, t = at(kind, SENT - timedelta(days=1)), at(kind, SENT)
    statements = [
        (customers, {"customers": contacts}),
        (
            "INSERT INTO campaigns (id, key, name, kind, spec_yaml, spec_hash, salt, status,"
            " starts_at, launched_at, provider_errors, created_at, updated_at)"
            " VALUES (1, 'bench-followups', 'bench', 'batch', :spec, 'h', 's', 'running',"
            " :t0, :t0, 0, :t0, :t0)",
            {"spec": CAMPAIGN, "t0": t0},
        ),
        (
            "INSERT INTO cells (id, campaign_id, code, is_control, share, vars)"
            " VALUES (1, 1, 'a', false, 0.9, '{}'), (2, 1, 'control', true, 0.1, '{}')",
            {},
        ),
        (
            "INSERT INTO contacts (id, campaign_id, customer_id, cell_id, status, entered_at, entry)"
            " SELECT id, 1, id, CASE WHEN id % 10 = 0 THEN 2 ELSE 1 END,"
            " CASE WHEN id % 10 = 0 THEN 'held_out' ELSE 'treated' END, :t0, 1 FROM customers",
            {"t0": t0},
        ),
        (
            "INSERT INTO sends (contact_id, campaign_id, customer_id, step, channel, due_at,"
            " state, attempts, sent_at, created_at, updated_at)"
            " SELECT id, 1, customer_id, 'offer', 'email', :t, 'sent', 1, :t, :t0, :t"
            " FROM contacts WHERE status = 'treated'",
            {"t": t, "t0": t0},
        ),
    ]
    started = time.perf_counter()
    with engine.begin() as conn:
        for statement, params in statements:
            conn.execute(text(statement), params)
    if kind == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return f"{contacts:,} contacts in {time.perf_counter() - started:.1f} s"


def opens(engine: Engine, every: int, recorded: datetime) -> int:
    """A human open 5 minutes after the offer for every `every`-th treated contact."""
    kind = engine.dialect.name
    statement = (
        "INSERT INTO events (event_key, source, kind, send_id, campaign_id, customer_id,"
        " occurred_at, recorded_at, machine, detail)"
        " SELECT 'open:' || id, 'bench', 'opened', id, campaign_id, customer_id, :o, :r, false, '{}'"
        " FROM sends WHERE step = 'offer' AND id % :every = 0"
    )
    params = {"o": at(kind, SENT + timedelta(minutes=5)), "r": at(kind, recorded), "every": every}
    with engine.begin() as conn:
        return int(conn.execute(text(statement), params).rowcount)


def timed(run: object, now: datetime) -> tuple[FollowupReport, float]:
    started = time.perf_counter()
    report = run(now)  # type: ignore[operator]
    return report, time.perf_counter() - started


def bench(kind: str, contacts: int, workdir: Path) -> None:
    url, drop = _database(kind, workdir)
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        print(f"{kind:10s} fill     {fill(engine, contacts)}", flush=True)
        adapters = bootstrap(Settings(), url)
        store, cache, options = followup_store(adapters), SpecCache(), FollowupOptions()

        def run(now: datetime) -> FollowupReport:
            return run_followups(store, adapters.launches, now, options, cache)

        def rate(label: str, now: datetime) -> None:
            report, seconds = timed(run, now)
            queued = sum(report.fired.values())
            print(
                f"{kind:10s} {label:8s} {queued:,} queued in {seconds:.2f} s"
                f" = {queued / seconds:,.0f}/s",
                flush=True,
            )

        def idle(label: str, start: datetime) -> None:
            # the first pass re-reads what the previous one saw inside the lookback
            report, seconds = timed(run, start)
            assert not report.fired, report.fired
            times = []
            for n in range(1, 13):  # every 15 s; from the 6th on, the lookback holds nothing
                report, took = timed(run, start + timedelta(seconds=15 * n))
                assert not report.fired, report.fired
                times.append(took * 1000)
            times = times[5:]
            print(
                f"{kind:10s} {label:8s} nothing due: median {statistics.median(times):.1f} ms,"
                f" max {max(times):.1f} ms over {len(times)} passes"
                f" (a pass re-reading the lookback: {seconds * 1000:.0f} ms)",
                flush=True,
            )

        rate("rating", SENT + timedelta(seconds=15))
        idle("idle", SENT + timedelta(seconds=30))
        now = SENT + timedelta(minutes=6)
        print(f"{kind:10s} opens    {opens(engine, 10, now):,} recorded", flush=True)
        rate("reminder", now)
        idle("idle", now + timedelta(seconds=15))
        rate("nudge", SENT + timedelta(days=3))
        idle("idle", SENT + timedelta(days=3, seconds=15))
        with engine.connect() as conn:
            sends = conn.execute(text("SELECT count(*) FROM sends")).scalar_one()
        print(f"{kind:10s} sends    {sends:,} in the outbox", flush=True)
        adapters.engine.dispose()
        engine.dispose()
    finally:
        drop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp:
        for kind in [args.only] if args.only else ["sqlite", "postgresql"]:
            bench(kind, args.contacts, Path(tmp))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
