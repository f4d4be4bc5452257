"""Benchmark: plan a campaign over 1,000,000 customers, on SQLite and on PostgreSQL.

The database is filled straight with set-based SQL (a recursive CTE on
SQLite, generate_series on PostgreSQL) with deterministic, realistic
distributions: customers, their metrics, consents, ~3,000,000 orders,
suppressions, and contact history (a past campaign with responses, recent
e-mail sends for the frequency caps). Then two campaigns are planned twice
each (cold: its first run in the process; warm: the same plan again):
`campaigns/winback.yaml` and a repeat-garden-buyers campaign whose segment
runs the `orders` and `bought` subqueries. Prints the fill time, each plan's
time with the time of its audience queries (how often each ran, and how long
in all), the funnel and the peak memory of the process.

    .venv/bin/python bench/bench_plan.py [--customers N] [--only sqlite|postgresql]
                                         [--keep] [--timeout SECONDS]

Target on a 2-core machine: <= 5 s per plan.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_import import _database  # type: ignore[import-not-found]
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from engine.bootstrap import Adapters, bootstrap
from engine.core.campaign.assign import SplitRule
from engine.core.campaign.eligibility import AudienceRules, ChannelRule, Overview
from engine.core.scoring import RFM_SEGMENTS
from engine.db import migrate
from engine.db.connect import make_engine
from engine.services.planning import Audience, plan_campaign
from engine.services.validation import validate_campaign
from engine.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 1, tzinfo=UTC)
WINBACK = ROOT / "campaigns" / "winback.yaml"
# winback.yaml's groups and first steps, with a segment over order history (the
# `orders` and `bought` subqueries) instead of the metrics.
GARDEN = """\
key: garden-repeat-2026-12
name: December offer for repeat garden buyers
audience:
  segment:
    all:
      - orders: {within: 365d, count: {gte: 2}}
      - bought: {category: garden, within: 730d}
      - consent: email
groups:
  control: 10%
  cells:
    offer15: {share: 45%, vars: {discount: 15}}
    offer20: {share: 45%, vars: {discount: 20}}
schedule:
  start: 2026-12-02 10:00
  timezone: Asia/Shanghai
  windows: {days: [wed, thu], hours: "10:00-16:00"}
steps:
  - id: offer
    channel: email
    template: winback/offer
  - id: reminder
    channel: email
    template: winback/reminder
    when: {opened: offer, within: 3d}
    expire_after: 20m
  - id: nudge
    channel: sms
    template: winback/nudge
    when: {not_opened: offer, after: 3d}
response:
  events: [purchase, code_redeemed]
  window: 30d
costs: {email: 0.001, sms: 0.05, currency: CNY}
"""
CATEGORIES = ("garden", "home", "kitchen", "fashion", "beauty", "toys", "books", "sports")


def fill_statements(kind: str) -> list[tuple[str, str]]:
    """(label, SQL) that fill a migrated database; the same data on both databases.

    Every value is derived from the row number with modular arithmetic; each
    customer property has its own prime modulus, so they are uncorrelated.
    Parameters: :customers, :buyers (customers 1..buyers have orders), :orders.
    """
    sqlite = kind == "sqlite"

    def rows(count: str) -> str:
        if sqlite:
            return (
                f"(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :{count})"
                " SELECT i FROM s) AS n"
            )
        return f"generate_series(CAST(1 AS bigint), CAST(:{count} AS bigint)) AS n(i)"

    def ago(minutes: str) -> str:
        """The instant `minutes` before NOW, as each database stores it."""
        if sqlite:
            return (
                f"strftime('%Y-%m-%d %H:%M:%S', '{NOW:%Y-%m-%d %H:%M:%S}', "
                f"'-' || ({minutes}) || ' minutes') || '.000000'"
            )
        return f"(timestamptz '{NOW.isoformat()}' - ({minutes}) * interval '1 minute')"

    def json(expr: str) -> str:
        return expr if sqlite else f"CAST({expr} AS jsonb)"

    def choose(expr: str, values: tuple[str, ...]) -> str:
        whens = " ".join(f"WHEN {index} THEN '{value}'" for index, value in enumerate(values))
        return f"CASE ({expr}) % {len(values)} {whens} END"

    day = 1440
    email = "(i * 104729) % 997 < 848"  # 85%
    phone = "(i * 15485863) % 1013 < 608"  # 60%
    address = "(i * 32452843) % 1019 < 713"  # 70%
    external = "i > :customers * 85 / 100"  # 15%: the last ids, bought lists
    staff = "(i * 48611) % 1021 < 5"  # 0.5%
    attributes = json(f"CASE WHEN {staff} THEN '{{\"tags\": \"staff\"}}' ELSE '{{}}' END")
    segment = " ".join(
        f"WHEN rs BETWEEN {rule.r[0]} AND {rule.r[1]} AND fs BETWEEN {rule.f[0]} AND {rule.f[1]}"
        f" THEN '{rule.name}'"
        for rule in RFM_SEGMENTS
    )
    return [
        (
            "customers",
            f"""INSERT INTO customers (id, external_id, first_name, last_name, email, phone,
                   address_line1, postal_code, city, region, country, timezone, language,
                   origin, source_name, trust, data_as_of, created_at, updated_at, attributes)
               SELECT i, 'C' || i,
                   {choose("i", ("Mei", "Wei", "Li", "Jun", "Anna", "Hao", "Yan", "Tom"))},
                   {choose("i / 8", ("Lin", "Wang", "Zhang", "Chen", "Liu", "Smith", "Zhao"))},
                   CASE WHEN {email} THEN 'c' || i || '@example.com' END,
                   CASE WHEN {phone} THEN '+8613' || (100000000 + i) END,
                   CASE WHEN {address} THEN (i % 300 + 1) || ' Example Road' END,
                   CASE WHEN {address} THEN CAST(200000 + i % 800 AS VARCHAR(20)) END,
                   CASE WHEN {address} THEN {choose("i", ("Shanghai", "Beijing", "Hangzhou", "Suzhou", "Nanjing"))} END,
                   CASE WHEN {address} THEN 'East' END,
                   CASE WHEN {address} THEN 'CN' END,
                   'Asia/Shanghai', 'zh',
                   CASE WHEN {external} THEN 'external' ELSE 'internal' END,
                   CASE WHEN {external} THEN 'list-2026' ELSE 'shop' END,
                   CASE WHEN {external} THEN 40 ELSE 100 END,
                   {ago(f"((i * 7) % 1000 + 1) * {day}")},
                   {ago(f"((i * 7) % 1000 + 1) * {day}")},
                   {ago(f"((i * 7) % 1000 + 1) * {day}")},
                   {attributes}
               FROM {rows("customers")}""",
        ),
        (
            "metrics",
            # r: days since the last order, skewed to recent (P(r <= t) = sqrt(t / 1095)).
            f"""INSERT INTO customer_metrics (customer_id, as_of, first_order_at, last_order_at,
                   recency_days, frequency, monetary_cents, avg_order_cents, r_score, f_score,
                   m_score, rfm_segment, lifecycle, value_tier)
               SELECT i, {ago("0")},
                   CASE WHEN buyer THEN {ago(f"fd * {day}")} END,
                   CASE WHEN buyer THEN {ago(f"r * {day} + i % {day}")} END,
                   CASE WHEN buyer THEN r END,
                   CASE WHEN buyer THEN fs * fs - i % fs ELSE 0 END,
                   CASE WHEN buyer THEN ms * 50000 + (i * 7331) % 50000 ELSE 0 END,
                   CASE WHEN buyer THEN (ms * 50000 + (i * 7331) % 50000) / (fs * fs - i % fs) END,
                   CASE WHEN buyer THEN rs END,
                   CASE WHEN buyer THEN fs END,
                   CASE WHEN buyer THEN ms END,
                   CASE WHEN buyer THEN CASE {segment} END END,
                   CASE WHEN NOT buyer THEN 'prospect' WHEN fd <= 30 THEN 'new'
                        WHEN r <= 180 THEN 'active' WHEN r <= 365 THEN 'at_risk'
                        WHEN r <= 730 THEN 'lapsed' ELSE 'lost' END,
                   CASE WHEN NOT buyer THEN NULL WHEN ms = 5 THEN 'top' WHEN ms = 4 THEN 'high'
                        WHEN ms = 3 THEN 'medium' ELSE 'low' END
               FROM (SELECT i, buyer, r, 5 - r * 5 / 1095 AS rs, fs, ms,
                            CASE WHEN r + (i * 131) % 730 > 1094 THEN 1094
                                 ELSE r + (i * 131) % 730 END AS fd
                     FROM (SELECT i, i <= :buyers AS buyer,
                                  ((i * 40503) % 1095) * ((i * 40503) % 1095) / 1095 AS r,
                                  1 + (i * 7) % 5 AS fs, 1 + (i * 11) % 5 AS ms
                           FROM {rows("customers")}) AS a) AS t""",
        ),
        (
            "orders",
            # A third of the orders go to the first fifth of the buyers: frequency is skewed.
            f"""INSERT INTO orders (customer_id, source_name, external_order_id, ordered_at,
                   amount_cents, currency, base_amount_cents, quantity, channel, category, brand)
               SELECT CASE WHEN i % 3 = 0 THEN (i * 7919) % (:buyers / 5)
                           ELSE (i * 7919) % :buyers END + 1,
                   'bench', 'O' || i,
                   {ago(f"((i * 104729) % 1095) * {day} + (i * 61) % {day}")},
                   amount, 'CNY', amount, 1 + i % 3,
                   {choose("i", ("web", "store", "app"))},
                   {choose("i * 5 / 3", CATEGORIES)},
                   'brand-' || (i * 17) % 50
               FROM (SELECT i, (i * 31) % 100000 + 500 AS amount FROM {rows("orders")}) AS t""",
        ),
        (
            "consents",
            # Granted e-mail for ~70% of customers, SMS ~30%, mail ~60%; then
            # later withdrawals for ~5% of the e-mail and SMS grants.
            f"""INSERT INTO consents (customer_id, channel, status, recorded_at, source, evidence)
               SELECT i, channel, 'granted', {ago(f"((i * 613) % 900 + 60) * {day}")},
                   'shop', 'signup form'
               FROM (SELECT id AS i, 'email' AS channel FROM customers
                     WHERE email IS NOT NULL AND (id * 92821) % 1031 < 845
                     UNION ALL
                     SELECT id, 'sms' FROM customers
                     WHERE phone IS NOT NULL AND (id * 86969) % 1033 < 516
                     UNION ALL
                     SELECT id, 'mail' FROM customers
                     WHERE address_line1 IS NOT NULL AND (id * 77023) % 1039 < 890) AS g
               ORDER BY channel, i""",
        ),
        (
            "consents",
            f"""INSERT INTO consents (customer_id, channel, status, recorded_at, source, evidence)
               SELECT customer_id, channel, 'withdrawn',
                   {ago(f"((customer_id * 17) % 50 + 1) * {day}")}, 'unsubscribe', 'link'
               FROM consents
               WHERE channel IN ('email', 'sms') AND (customer_id * 7727) % 1049 < 52
               ORDER BY id""",
        ),
        (
            "suppressions",
            # 2%: a quarter on all channels, the rest on e-mail.
            f"""INSERT INTO suppressions (channel, customer_id, kind, reason, source, created_at)
               SELECT CASE WHEN id % 4 = 0 THEN 'all' ELSE 'email' END, id, 'customer',
                   {choose("id", ("unsubscribed", "hard_bounce", "complaint"))}, 'bench',
                   {ago(f"(id % 700 + 1) * {day}")}
               FROM customers WHERE (id * 3571) % 1000 < 20""",
        ),
        (
            "history",
            f"""INSERT INTO campaigns (id, key, name, kind, spec_yaml, spec_hash, salt, status,
                   starts_at, launched_at, created_at, updated_at)
               SELECT n.id, n.key, n.name, 'batch', '', '{"0" * 64}', 'bench', n.status,
                   {ago(f"n.age * {day}")}, {ago(f"n.age * {day}")},
                   {ago(f"(n.age + 2) * {day}")}, {ago(f"n.age * {day}")}
               FROM (SELECT 1 AS id, 'winback-2026-06' AS key, 'June win-back' AS name,
                            'completed' AS status, 144 AS age
                     UNION ALL
                     SELECT 2, 'newsletter-2026-10', 'Late October newsletter', 'running', 6)
                    AS n""",
        ),
        (
            "history",
            # June win-back: 5% of the buyers (a tenth held out); this week's
            # newsletter: 6% of everyone.
            f"""INSERT INTO contacts (campaign_id, customer_id, status, entered_at)
               SELECT 1, id, CASE WHEN id % 10 = 0 THEN 'held_out' ELSE 'treated' END,
                   {ago(f"144 * {day}")}
               FROM customers WHERE id <= :buyers AND (id * 5417) % 1000 < 50
               UNION ALL
               SELECT 2, id, 'treated', {ago(f"6 * {day}")}
               FROM customers WHERE (id * 6007) % 1000 < 60""",
        ),
        (
            "history",
            f"""INSERT INTO responses (contact_id, campaign_id, customer_id, kind, attribution,
                   occurred_at, recorded_at, value_cents, source, source_ref, detail)
               SELECT id, campaign_id, customer_id, 'purchase', 'direct',
                   {ago(f"(134 - id % 20) * {day}")}, {ago(f"(134 - id % 20) * {day}")},
                   10000 + (id * 31) % 50000, 'history', 'R' || id, '{{}}'
               FROM contacts WHERE campaign_id = 1 AND customer_id % 8 = 0""",
        ),
        (
            "history",
            # 100,000 e-mails in the last 7 days at 1M customers: two for two
            # thirds of the newsletter's contacts (at the default cap of 2 per 7 days).
            f"""INSERT INTO sends (contact_id, campaign_id, customer_id, step, channel, due_at,
                   state, attempts, sent_at, created_at, updated_at)
               SELECT id, campaign_id, customer_id, step, 'email', {ago("age")}, 'sent', 1,
                   {ago("age")}, {ago("age")}, {ago("age")}
               FROM (SELECT id, campaign_id, customer_id, 'offer' AS step,
                            5 * {day} + id % {day} AS age
                     FROM contacts WHERE campaign_id = 2
                     UNION ALL
                     SELECT id, campaign_id, customer_id, 'reminder', 4 * {day} + id % {day}
                     FROM contacts WHERE campaign_id = 2 AND customer_id % 3 <> 0) AS s""",
        ),
        ("analyze", "ANALYZE"),
        *(
            [("sequences", SEQUENCES)] if kind == "postgresql" else []
        ),  # rows above carry explicit ids: move each id sequence past them
    ]


SEQUENCES = "SELECT " + ", ".join(
    f"setval(pg_get_serial_sequence('{table}', 'id'), "
    f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
    for table in (
        "import_batches",
        "customers",
        "customer_sources",
        "consents",
        "suppressions",
        "orders",
        "campaigns",
        "cells",
        "contacts",
        "sends",
        "responses",
    )
)


def fill(engine: Engine, customers: int) -> str:
    """Fill the database; returns the timings, step by step."""
    params = {"customers": customers, "buyers": customers * 88 // 100, "orders": 3 * customers}
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    for label, statement in fill_statements(engine.dialect.name):
        step = time.perf_counter()
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL statement_timeout = 0"))  # --timeout is for plans
            conn.execute(text(statement), params)
        seconds[label] = seconds.get(label, 0.0) + time.perf_counter() - step
    total = time.perf_counter() - started
    with engine.connect() as conn:
        counts = {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("customers", "orders", "consents", "suppressions", "sends")
        }
    parts = ", ".join(f"{label} {value:.1f}" for label, value in seconds.items())
    rows = ", ".join(f"{value:,} {table}" for table, value in counts.items())
    return f"{rows} in {total:.1f} s ({parts})"


@dataclass
class TimedAudience:
    """The audience adapter, timing its queries: name -> (calls, seconds) since `clear`."""

    inner: Audience
    seconds: dict[str, tuple[int, float]] = field(default_factory=dict)
    running: str = ""  # the query under way (named when one is cancelled)

    def _timed(self, name: str, call: Callable[[], Any]) -> Any:
        self.running = name
        started = time.perf_counter()
        result = call()
        calls, seconds = self.seconds.get(name, (0, 0.0))
        self.seconds[name] = (calls + 1, seconds + time.perf_counter() - started)
        return result

    def describe(self) -> str:
        return ", ".join(
            f"{name} {f'{calls}x ' if calls > 1 else ''}{seconds:.2f}"
            for name, (calls, seconds) in self.seconds.items()
        )

    def overview(
        self,
        rules: AudienceRules,
        follow_ups: Sequence[ChannelRule],
        window: timedelta,
        split: SplitRule,
        samples: int,
    ) -> Overview:
        return self._timed(
            "screening", lambda: self.inner.overview(rules, follow_ups, window, split, samples)
        )


def run(kind: str, workdir: Path, customers: int, keep: bool, timeout: int) -> None:
    kept = Path(tempfile.gettempdir()) / f"engine-bench-plan-{customers}.sqlite3"
    reuse = kind == "sqlite" and keep and kept.exists()
    url, cleanup = (f"sqlite:///{kept}", lambda: None) if reuse else _database(kind, workdir)
    try:
        if kind == "postgresql":  # a server-side limit, so a runaway plan cannot hang the bench
            options = {"options": f"-c statement_timeout={timeout * 1000}"}
            url = make_url(url).update_query_dict(options).render_as_string(hide_password=False)
        if not reuse:
            engine = make_engine(url)
            migrate.upgrade(engine)
            print(f"{kind:10s} fill  {fill(engine, customers)}", flush=True)
            engine.dispose()
            if kind == "sqlite" and keep:  # only a complete fill is kept
                (workdir / "bench.sqlite3").rename(kept)
                url = f"sqlite:///{kept}"
        settings = Settings.model_validate({"templates_dir": str(ROOT / "templates")})
        adapters = bootstrap(settings, url)
        plan_all(kind, adapters, timeout)
        adapters.engine.dispose()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{kind:10s} peak memory {peak:,.0f} MB", flush=True)
    finally:
        cleanup()


def plan_all(kind: str, adapters: Adapters, timeout: int) -> None:
    """Plan each campaign twice (cold, then warm) and print the times and the funnel."""
    campaigns = {
        "winback": validate_campaign(WINBACK.read_text("utf-8"), str(WINBACK), adapters.renderer),
        "garden": validate_campaign(GARDEN, "garden.yaml", adapters.renderer),
    }
    audience = TimedAudience(adapters.audience)
    for name, checked in campaigns.items():
        for run_label in ("cold", "warm"):
            audience.seconds.clear()
            started = time.perf_counter()
            try:
                plan = plan_campaign(checked, adapters.policy(), audience, adapters.renderer, NOW)
            except OperationalError as exc:  # statement_timeout (PostgreSQL)
                seconds = time.perf_counter() - started
                print(
                    f"{kind:10s} plan  {name:8s} {run_label}  {seconds:5.1f} s: {audience.running}"
                    f" cancelled after {timeout} s ({type(exc.orig).__name__})",
                    flush=True,
                )
                break  # a warm run would only be cancelled again
            seconds = time.perf_counter() - started
            print(
                f"{kind:10s} plan  {name:8s} {run_label}  {seconds:5.2f} s ({audience.describe()})  "
                f"matched {plan.funnel.matched:,}, eligible {plan.funnel.eligible:,}",
                flush=True,
            )
        else:
            excluded = ", ".join(f"{reason} {count:,}" for reason, count in plan.funnel.excluded)
            print(f"{kind:10s}       {name:8s} excluded: {excluded}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument(
        "--keep",
        action="store_true",
        help="SQLite: keep the filled database in the temp dir and reuse it on the next run "
        "(PostgreSQL always uses a throwaway database)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=120,
        help="PostgreSQL: cancel a plan query after this many seconds (default 120)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp:
            run(args.only, Path(tmp), args.customers, args.keep, args.timeout)
        return
    for kind in [args.only] if args.only else ["sqlite", "postgresql"]:
        # A fresh process per database, so each peak-memory figure is its own.
        command = [sys.executable, __file__, "--child", "--only", kind]
        command += ["--customers", str(args.customers), "--timeout", str(args.timeout)]
        command += ["--keep"] if args.keep else []
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
