"""Benchmark: the report of a campaign with 1,000,000 contacts and ~3,000,000 events.

The database is filled straight with set-based SQL (a recursive CTE on
SQLite, generate_series on PostgreSQL; the report tallies are kept by the
database's triggers as the rows go in), the same data on both: 1,000,000
customers and contacts (2% suppressed at launch, 10% control), ~1.4 million
sends over three steps (e-mail offer, e-mail reminder, SMS nudge) in every
state, ~3 million events (processed, delivered, bounced, human and machine
opens, clicks, unsubscribes, complaints) and ~50,000 responses (purchases,
code redemptions, replies, unattributed ones). Then `campaign_report` runs
twice (cold, then warm) and `all_campaigns` once; prints the fill time, the
figures, and the time of each statement.

    .venv/bin/python bench/bench_report.py [--contacts N] [--only sqlite|postgresql]

Target: the report in <= 2 s on each database. PostgreSQL: a database of its
own on 127.0.0.1:5432 (user postgres), dropped at the end.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_import import _database  # type: ignore[import-not-found]
from rich.console import Console
from sqlalchemy import Engine, event, text

from engine.cli.report import print_report
from engine.db import migrate
from engine.db.connect import make_engine
from engine.db.results import SqlResults
from engine.services.reporting import all_campaigns, campaign_report

NOW = datetime(2026, 11, 11, tzinfo=UTC)
LAUNCH_DAYS_AGO = 10
SPEC = """\
key: bench-report
name: Bench win-back offer
groups:
  control: 10%
  cells:
    offer15: {share: 45%, vars: {discount: 15}}
    offer20: {share: 45%, vars: {discount: 20}}
steps:
  - id: offer
    channel: email
    template: winback/offer
  - id: reminder
    channel: email
    template: winback/reminder
    when: {opened: offer, within: 3d}
  - id: nudge
    channel: sms
    template: winback/nudge
    when: {not_opened: offer, after: 3d}
response:
  events: [purchase, code_redeemed]
  window: 30d
costs: {email: 0.001, sms: 0.05, currency: CNY}
"""


def fill_statements(kind: str) -> list[tuple[str, str]]:
    """(label, SQL) filling a migrated database; every value derived from the row number."""
    sqlite = kind == "sqlite"
    rows = (
        "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :contacts)"
        " SELECT i FROM s) AS n"
        if sqlite
        else "generate_series(CAST(1 AS bigint), CAST(:contacts AS bigint)) AS n(i)"
    )

    def at(minutes: str) -> str:
        """The instant `minutes` after the launch, as each database stores it."""
        launched = f"{NOW:%Y-%m-%d %H:%M:%S}"
        if sqlite:
            return (
                f"strftime('%Y-%m-%d %H:%M:%S', '{launched}', '-{LAUNCH_DAYS_AGO} days', "
                f"'+' || ({minutes}) || ' minutes') || '.000000'"
            )
        return (
            f"(timestamptz '{NOW.isoformat()}' - interval '{LAUNCH_DAYS_AGO} days'"
            f" + ({minutes}) * interval '1 minute')"
        )

    json = "'{}'" if sqlite else "CAST('{}' AS jsonb)"
    spec = SPEC.replace("'", "''")
    control = "(i * 7919) % 1000 < 100"
    suppressed = "i % 53 = 7"
    respond = "(id * 104729) % 997"
    return [
        (
            "campaign",
            f"""INSERT INTO campaigns (id, key, name, kind, spec_yaml, spec_hash, salt, status,
                   starts_at, launched_at, created_at, updated_at)
               VALUES (1, 'bench-report', 'Bench win-back offer', 'batch', '{spec}',
                   '{"0" * 64}', 'bench', 'running', {at("0")}, {at("0")}, {at("0")}, {at("0")})""",
        ),
        (
            "campaign",
            """INSERT INTO cells (id, campaign_id, code, is_control, share, vars)
               VALUES (1, 1, 'control', TRUE, 0.1, '{}'), (2, 1, 'offer15', FALSE, 0.45, '{}'),
                      (3, 1, 'offer20', FALSE, 0.45, '{}')""",
        ),
        (
            "customers",
            f"""INSERT INTO customers (id, external_id, origin, source_name, trust, data_as_of,
                   created_at, updated_at, attributes)
               SELECT i, 'C' || i, 'internal', 'shop', 100, {at("0")}, {at("0")}, {at("0")},
                   {json}
               FROM {rows}""",
        ),
        (
            "contacts",
            f"""INSERT INTO contacts (id, campaign_id, customer_id, cell_id, status, reason,
                   entered_at, entry)
               SELECT i, 1, i,
                   CASE WHEN {suppressed} THEN NULL WHEN {control} THEN 1
                        WHEN (i * 7919) % 1000 < 550 THEN 2 ELSE 3 END,
                   CASE WHEN {suppressed} THEN 'suppressed' WHEN {control} THEN 'held_out'
                        ELSE 'treated' END,
                   CASE WHEN {suppressed} THEN 'consent' END, {at("0")}, 1
               FROM {rows}""",
        ),
        (
            "sends",
            # Per send k: 93% sent, 2% unknown, 2% skipped, 1% failed, 2% queued.
            f"""INSERT INTO sends (contact_id, campaign_id, customer_id, step, channel, due_at,
                   state, attempts, last_error, sent_at, delivery, delivery_at, opened_at,
                   clicked_at, created_at, updated_at)
               SELECT id, 1, id, step, channel, {at("d")},
                   CASE WHEN k < 93 THEN 'sent' WHEN k < 95 THEN 'unknown'
                        WHEN k < 97 THEN 'skipped' WHEN k < 98 THEN 'failed' ELSE 'queued' END,
                   1, CASE WHEN k BETWEEN 95 AND 96 THEN
                        CASE WHEN id % 2 = 0 THEN 'consent' ELSE 'cap' END END,
                   CASE WHEN k < 95 THEN {at("d")} END,
                   CASE WHEN k < 95 AND v < 92 THEN 'delivered'
                        WHEN k < 95 AND v < 96 THEN 'bounced' END,
                   CASE WHEN k < 95 AND v < 96 THEN {at("d + 1")} END,
                   CASE WHEN k < 95 AND v < 92 AND channel = 'email' AND o < 28
                        THEN {at("d + 30 + o")} END,
                   CASE WHEN k < 95 AND v < 92 AND channel = 'email' AND o < 6
                        THEN {at("d + 60 + o")} END,
                   {at("0")}, {at("0")}
               FROM (SELECT id, step, channel, d, (id * 31 + d) % 101 * 100 / 101 AS k,
                            (id * 17 + d) % 103 * 100 / 103 AS v, (id * 13 + d) % 107 * 100 / 107 AS o
                     FROM (SELECT id, 'offer' AS step, 'email' AS channel, 0 AS d
                           FROM contacts WHERE status = 'treated'
                           UNION ALL
                           SELECT id, 'reminder', 'email', 2880 FROM contacts
                           WHERE status = 'treated' AND id % 3 = 0
                           UNION ALL
                           SELECT id, 'nudge', 'sms', 4320 FROM contacts
                           WHERE status = 'treated' AND id % 7 < 2) AS steps) AS s""",
        ),
        (
            "events",
            # Per send that went: processed (or sms_sent), then its delivery
            # outcome, human opens, machine opens, clicks, unsubscribes, complaints.
            f"""INSERT INTO events (event_key, source, kind, send_id, campaign_id, customer_id,
                   occurred_at, recorded_at, machine, detail)
               SELECT 'b:' || kind || ':' || id, 'bench', kind, id, 1, customer_id, at, at,
                   machine, {json}
               FROM (SELECT id, customer_id, sent_at AS at, FALSE AS machine,
                            CASE WHEN channel = 'sms' THEN 'sms_sent' ELSE 'processed' END AS kind
                     FROM sends WHERE state IN ('sent', 'unknown')
                     UNION ALL
                     SELECT id, customer_id, delivery_at, FALSE, delivery FROM sends
                     WHERE delivery IS NOT NULL
                     UNION ALL
                     SELECT id, customer_id, opened_at, FALSE, 'opened' FROM sends
                     WHERE opened_at IS NOT NULL
                     UNION ALL
                     SELECT id, customer_id, delivery_at, TRUE, 'machine_open' FROM sends
                     WHERE delivery = 'delivered' AND channel = 'email'
                       AND (id * 13) % 109 BETWEEN 40 AND 79
                     UNION ALL
                     SELECT id, customer_id, clicked_at, FALSE, 'clicked' FROM sends
                     WHERE clicked_at IS NOT NULL
                     UNION ALL
                     SELECT id, customer_id, delivery_at, FALSE,
                            CASE WHEN (id * 29) % 1009 < 3 THEN 'unsubscribed'
                                 ELSE 'complained' END
                     FROM sends WHERE delivery = 'delivered' AND (id * 29) % 1009 < 4) AS e""",
        ),
        (
            "events",
            "UPDATE events SET kind = 'opened' WHERE kind = 'machine_open'",
        ),
        (
            "responses",
            # Responders: 3.0% of the control, 4.0% of offer15, 4.5% of offer20;
            # every fifth also redeems its code; some replies (not a counted
            # kind) and unattributed purchases.
            f"""INSERT INTO responses (source, source_ref, kind, customer_id, contact_id,
                   campaign_id, attribution, occurred_at, recorded_at, value_cents, detail)
               SELECT 'shop', 'R' || id || ':' || n, kind, customer_id,
                   CASE WHEN kind <> 'unattributed' THEN id END,
                   CASE WHEN kind <> 'unattributed' THEN 1 END,
                   CASE WHEN kind = 'unattributed' THEN 'none'
                        WHEN cell_id = 1 THEN 'inferred' ELSE 'direct' END,
                   {at("(id * 61 + n * 977) % 14400")}, {at("(id * 61 + n * 977) % 14400")},
                   CASE WHEN kind <> 'reply' THEN 1000 + (id * 37 + n) % 20000 END, {json}
               FROM (SELECT id, customer_id, cell_id, 1 AS n, 'purchase' AS kind FROM contacts
                     WHERE {respond} < CASE cell_id WHEN 1 THEN 30 WHEN 2 THEN 40 ELSE 45 END
                       AND status <> 'suppressed'
                     UNION ALL
                     SELECT id, customer_id, cell_id, 2, 'code_redeemed' FROM contacts
                     WHERE {respond} < 30 AND id % 5 = 0 AND status <> 'suppressed'
                     UNION ALL
                     SELECT id, customer_id, cell_id, 3, 'reply' FROM contacts
                     WHERE {respond} BETWEEN 900 AND 909
                     UNION ALL
                     SELECT id, customer_id, cell_id, 4, 'unattributed' FROM contacts
                     WHERE {respond} BETWEEN 950 AND 959) AS r""",
        ),
        ("responses", "UPDATE responses SET kind = 'purchase' WHERE kind = 'unattributed'"),
        ("analyze", "ANALYZE"),
    ]


def fill(engine: Engine, contacts: int) -> str:
    """Fill the database; returns the row counts and the time of each step."""
    seconds: dict[str, float] = defaultdict(float)
    started = time.perf_counter()
    for label, statement in fill_statements(engine.dialect.name):
        step = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text(statement), {"contacts": contacts})
        seconds[label] += time.perf_counter() - step
    total = time.perf_counter() - started
    with engine.connect() as conn:
        counts = {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("contacts", "sends", "events", "responses")
        }
    parts = ", ".join(f"{label} {value:.1f}" for label, value in seconds.items())
    return ", ".join(f"{n:,} {t}" for t, n in counts.items()) + f" in {total:.1f} s ({parts})"


# A statement's name, by a phrase only it contains (engine.db.results).
NAMES = (
    ("pg_advisory", "fold tallies"),
    ("DELETE FROM", "fold tallies"),
    ("FROM contact_tallies", "contact tallies"),
    ("FROM send_tallies", "send tallies"),
    ("state = 'skipped'", "SKIPPED"),
    ("group_unsubscribed", "OPT_OUTS"),
    ("revenue_squares", "RESPONDERS"),
    ("first_at", "responders by day"),
    ("FROM campaigns", "campaign"),
    ("FROM cells", "cells"),
)


class StatementClock:
    """Seconds per named statement, from the engine's cursor events."""

    def __init__(self, engine: Engine) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._started: list[float] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_: Any) -> None:
        self._started.append(time.perf_counter())

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        name = next((n for phrase, n in NAMES if phrase in statement), "other")
        self.seconds[name] += time.perf_counter() - self._started.pop()

    def describe(self) -> str:
        return ", ".join(f"{name} {s:.3f}" for name, s in self.seconds.items())


def run(kind: str, contacts: int) -> None:
    with tempfile.TemporaryDirectory(prefix="engine-bench-report-") as tmp:
        url, cleanup = _database(kind, Path(tmp))
        try:
            engine = make_engine(url)
            migrate.upgrade(engine)
            print(f"{kind:10s} fill    {fill(engine, contacts)}", flush=True)
            report_all(kind, engine)
            engine.dispose()
        finally:
            cleanup()


def report_all(kind: str, engine: Engine) -> None:
    clock, store = StatementClock(engine), SqlResults(engine)
    report = None
    for label in ("cold", "warm"):
        clock.seconds.clear()
        started = time.perf_counter()
        report = campaign_report(store, "bench-report", NOW)
        seconds = time.perf_counter() - started
        print(f"{kind:10s} report  {label}  {seconds:5.2f} s ({clock.describe()})", flush=True)
    started = time.perf_counter()
    summaries = all_campaigns(store, NOW)
    print(f"{kind:10s} --all   {time.perf_counter() - started:5.2f} s, {len(summaries)} campaign")
    assert report is not None
    print_report(Console(width=160), report)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    for kind in [args.only] if args.only else ["sqlite", "postgresql"]:
        run(kind, args.contacts)


if __name__ == "__main__":
    main()
