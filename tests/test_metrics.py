"""Metrics refresh: exact RFM scores, segments, lifecycle and value tiers."""

from __future__ import annotations

import random
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from engine.bootstrap import Adapters, bootstrap
from engine.core.scoring import MetricRules, lifecycle_for, segment_for
from engine.services.metrics import refresh_metrics
from engine.settings import Settings

from .conftest import NOW
from .helpers import load_customers, load_orders, rows, write_csv

ORDERS = ["order_id", "customer_id", "ordered_at", "amount"]


def _base(adapters: Adapters, tmp_path: Path, orders: list[tuple[str, int, str]]) -> None:
    """Customers A-F; `orders` are (customer, days before NOW, amount)."""
    write_csv(tmp_path / "c.csv", ["external_id"], [[c] for c in "ABCDEF"])
    load_customers(adapters, tmp_path / "c.csv")
    write_csv(
        tmp_path / "o.csv",
        ORDERS,
        [
            [f"O{i}", customer, (NOW - timedelta(days=days)).isoformat(), amount]
            for i, (customer, days, amount) in enumerate(orders)
        ],
    )
    load_orders(adapters, tmp_path / "o.csv")


def by_customer(adapters: Adapters) -> dict[str, dict[str, object]]:
    ids = {r["id"]: r["external_id"] for r in rows(adapters, "customers")}
    return {ids[m["customer_id"]]: m for m in rows(adapters, "customer_metrics", "customer_id")}


def test_hand_made_fixture_scores_exactly(adapters: Adapters, tmp_path: Path) -> None:
    _base(
        adapters,
        tmp_path,
        [
            ("A", 5, "100.00"),
            ("A", 40, "50.00"),
            ("A", 400, "30.00"),
            ("B", 10, "20.00"),
            ("C", 200, "500.00"),
            ("C", 250, "100.00"),
            ("D", 500, "10.00"),
            ("E", 800, "5.00"),
        ],
    )
    written = refresh_metrics(adapters.metrics, adapters.metric_rules(), NOW)
    assert written == 6
    m = by_customer(adapters)
    figures = {
        k: (
            v["recency_days"],
            v["frequency"],
            v["monetary_cents"],
            v["avg_order_cents"],
            v["r_score"],
            v["f_score"],
            v["m_score"],
        )
        for k, v in m.items()
    }
    assert figures == {
        "A": (5, 3, 18000, 6000, 5, 5, 4),
        "B": (10, 1, 2000, 2000, 4, 3, 3),
        "C": (200, 2, 60000, 30000, 3, 4, 5),
        "D": (500, 1, 1000, 1000, 2, 3, 2),
        "E": (800, 1, 500, 500, 1, 3, 1),
        "F": (None, 0, 0, None, None, None, None),
    }
    assert {k: v["rfm_segment"] for k, v in m.items()} == {
        "A": "champions",
        "B": "potential_loyalists",
        "C": "loyal",
        "D": "at_risk",
        "E": "at_risk",
        "F": None,
    }
    assert {k: v["lifecycle"] for k, v in m.items()} == {
        "A": "active",
        "B": "new",
        "C": "at_risk",
        "D": "lapsed",
        "E": "lost",
        "F": "prospect",
    }
    assert {k: v["value_tier"] for k, v in m.items()} == {
        "A": "medium",
        "B": "low",
        "C": "high",
        "D": "low",
        "E": "low",
        "F": None,
    }
    assert m["A"]["first_order_at"] == NOW - timedelta(days=400)
    assert m["A"]["last_order_at"] == NOW - timedelta(days=5)
    assert m["A"]["as_of"] == NOW


def test_refresh_as_of_a_past_date_ignores_later_orders(adapters: Adapters, tmp_path: Path) -> None:
    _base(adapters, tmp_path, [("A", 5, "10.00"), ("A", 100, "20.00")])
    refresh_metrics(adapters.metrics, adapters.metric_rules(), NOW - timedelta(days=50))
    a = by_customer(adapters)["A"]
    assert (a["frequency"], a["monetary_cents"], a["recency_days"]) == (1, 2000, 50)
    refresh_metrics(adapters.metrics, adapters.metric_rules(), NOW)
    assert by_customer(adapters)["A"]["frequency"] == 2  # rebuilt, not appended


def test_sqlite_refresh_gives_its_pooled_connection_back_as_it_was(
    sqlite_template: Path, settings: Settings, tmp_path: Path
) -> None:
    # SQLite only: on PostgreSQL the refresh changes nothing beyond its transaction (SET LOCAL)
    shutil.copy(sqlite_template, tmp_path / "db.sqlite3")
    adapters = bootstrap(settings, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    _base(adapters, tmp_path, [("A", 5, "10.00")])
    pragmas = ("PRAGMA cache_size", "PRAGMA temp_store")

    def current() -> list[int]:
        with adapters.engine.connect() as conn:
            return [conn.exec_driver_sql(p).scalar_one() for p in pragmas]

    before = current()
    assert before == [-64 * 1024, 2]  # 64 MB, MEMORY: what other work wants
    refresh_metrics(adapters.metrics, adapters.metric_rules(), NOW)
    assert current() == before
    assert by_customer(adapters)["A"]["frequency"] == 1
    adapters.engine.dispose()


def test_day_boundaries_are_exact(adapters: Adapters, tmp_path: Path) -> None:
    rules = adapters.metric_rules()
    _base(
        adapters,
        tmp_path,
        [
            ("A", rules.active_days, "1.00"),
            ("A", 900, "1.00"),
            ("B", rules.active_days + 1, "1.00"),
            ("B", 900, "1.00"),
        ],
    )
    refresh_metrics(adapters.metrics, rules, NOW)
    m = by_customer(adapters)
    assert (m["A"]["recency_days"], m["A"]["lifecycle"]) == (rules.active_days, "active")
    assert (m["B"]["recency_days"], m["B"]["lifecycle"]) == (rules.active_days + 1, "at_risk")


def _reference(orders: list[tuple[str, int, int]], rules: MetricRules) -> dict[str, tuple]:
    """The definition, written plainly: quintile = ceil(5 x share no better)."""
    per: dict[str, list[tuple[int, int]]] = {}
    for customer, days, cents in orders:
        per.setdefault(customer, []).append((days, cents))
    facts = {
        c: (min(d for d, _ in v), max(d for d, _ in v), len(v), sum(x for _, x in v))
        for c, v in per.items()
    }
    n = len(facts)

    def score(value: int, values: list[int]) -> int:
        return -(-5 * sum(1 for other in values if other <= value) // n)

    def tier(mon: int) -> str:
        at_least = sum(1 for other in facts.values() if other[3] >= mon)
        for name, share in zip(("top", "high", "medium"), rules.tier_shares, strict=True):
            if at_least * 10000 <= round(share * 10000) * n:
                return name
        return "low"

    out = {}
    for c, (recency, tenure, freq, mon) in facts.items():
        r = score(-recency, [-f[0] for f in facts.values()])
        f = score(freq, [x[2] for x in facts.values()])
        m = score(mon, [x[3] for x in facts.values()])
        out[c] = (
            recency,
            freq,
            mon,
            r,
            f,
            m,
            segment_for(r, f),
            lifecycle_for(tenure, recency, rules),
            tier(mon),
        )
    return out


def test_sql_agrees_with_the_plain_definition_on_random_data(
    adapters: Adapters, tmp_path: Path
) -> None:
    rnd = random.Random(7)
    names = [f"K{i}" for i in range(60)]
    orders = [
        (rnd.choice(names), rnd.randrange(0, 1000), rnd.choice([500, 1000, 2500, 9900]))
        for _ in range(200)
    ]
    write_csv(tmp_path / "c.csv", ["external_id"], [[c] for c in names])
    load_customers(adapters, tmp_path / "c.csv")
    write_csv(
        tmp_path / "o.csv",
        ORDERS,
        [
            [f"O{i}", c, (NOW - timedelta(days=d, hours=1)).isoformat(), f"{cents / 100:.2f}"]
            for i, (c, d, cents) in enumerate(orders)
        ],
    )
    load_orders(adapters, tmp_path / "o.csv")
    rules = adapters.metric_rules()
    refresh_metrics(adapters.metrics, rules, NOW)
    expected = _reference(orders, rules)
    got = {
        k: (
            v["recency_days"],
            v["frequency"],
            v["monetary_cents"],
            v["r_score"],
            v["f_score"],
            v["m_score"],
            v["rfm_segment"],
            v["lifecycle"],
            v["value_tier"],
        )
        for k, v in by_customer(adapters).items()
        if v["frequency"]
    }
    assert got == expected


@pytest.mark.parametrize("r", range(1, 6))
def test_every_score_pair_has_exactly_one_segment(r: int) -> None:
    rules = MetricRules(30, 180, 365, 730, (0.05, 0.2, 0.5))
    for f in range(1, 6):
        matching = [
            s.name for s in rules.segments if s.r[0] <= r <= s.r[1] and s.f[0] <= f <= s.f[1]
        ]
        assert matching == [segment_for(r, f)]
