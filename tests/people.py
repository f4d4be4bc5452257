"""A hand-made customer base for segment and eligibility tests.

Four people, each chosen to sit on the edge of some condition:
- ann: own customer, active champion, tags "vip, staff", birthday in 4 days,
  e-mail consent, three garden orders this year, treated and responded in
  campaign old-1;
- bob: bought-list prospect (source listco), e-mail consent withdrawn;
- cai: own customer, lapsed, no e-mail, SMS consent, two kitchen orders in
  2025, held out (control) in old-1;
- dan: own customer imported after the last metrics refresh (no metrics).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from engine.db.models import (
    Campaign,
    Consent,
    Contact,
    Customer,
    CustomerMetrics,
    CustomerSource,
    ImportBatch,
    Order,
    Response,
)

from .conftest import NOW

DAY = timedelta(days=1)


def _customer(name: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "external_id": name,
        "first_name": name.title(),
        "origin": "internal",
        "source_name": "shop",
        "trust": 100,
        "data_as_of": NOW - 400 * DAY,
        "created_at": NOW - 400 * DAY,
        "updated_at": NOW - 400 * DAY,
        "attributes": {},
        "email": None,
        "phone": None,
        "city": None,
        "country": None,
        "birth_date": None,
        "address_line1": None,
        "postal_code": None,
    }
    return base | fields


PEOPLE = {
    "ann": _customer(
        "ann",
        email="ann@x.cn",
        phone="+8613800000001",
        city="Shanghai",
        country="CN",
        address_line1="1 Road",
        postal_code="200000",
        birth_date=date(1990, 11, 5),
        attributes={"tags": "vip, staff", "loyalty_card": "gold"},
    ),
    "bob": _customer(
        "bob",
        email="bob@y.com",
        city="Beijing",
        country="CN",
        origin="external",
        source_name="listco",
        trust=40,
    ),
    "cai": _customer("cai", phone="+8613800000003", birth_date=date(1985, 3, 1)),
    "dan": _customer("dan", email="dan@x.cn", city="shanghai", attributes={"tags": "Staff"}),
}


def _metrics(customer_id: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "customer_id": customer_id,
        "as_of": NOW,
        "frequency": 0,
        "monetary_cents": 0,
        "lifecycle": "prospect",
        **dict.fromkeys(
            [
                "first_order_at",
                "last_order_at",
                "recency_days",
                "avg_order_cents",
                "r_score",
                "f_score",
                "m_score",
                "rfm_segment",
                "value_tier",
            ]
        ),
    }
    return base | fields


def seed(engine: Engine) -> dict[str, int]:
    """Insert the four people and their history; returns name -> customer id."""
    ids: dict[str, int] = {}
    with engine.begin() as conn:
        batch = conn.execute(
            insert(ImportBatch).returning(ImportBatch.id),
            {
                "kind": "customers",
                "source_name": "shop",
                "origin": "internal",
                "file_name": "people.csv",
                "file_sha256": "0" * 64,
                "started_at": NOW,
            },
        ).scalar_one()
        for name, row in PEOPLE.items():
            ids[name] = conn.execute(insert(Customer).returning(Customer.id), row).scalar_one()
            conn.execute(
                insert(CustomerSource),
                {
                    "customer_id": ids[name],
                    "source_name": row["source_name"],
                    "origin": row["origin"],
                    "source_ref": name,
                    "trust": row["trust"],
                    "import_batch_id": batch,
                    "first_seen_at": NOW - 400 * DAY,
                },
            )
        ann, bob, cai = ids["ann"], ids["bob"], ids["cai"]
        conn.execute(
            insert(CustomerMetrics),
            [
                _metrics(
                    ann,
                    first_order_at=NOW - 700 * DAY,
                    last_order_at=NOW - 10 * DAY,
                    recency_days=10,
                    frequency=5,
                    monetary_cents=120_000,
                    avg_order_cents=24_000,
                    r_score=5,
                    f_score=4,
                    m_score=5,
                    rfm_segment="champions",
                    lifecycle="active",
                    value_tier="top",
                ),
                _metrics(bob),
                _metrics(
                    cai,
                    first_order_at=NOW - 520 * DAY,
                    last_order_at=NOW - 500 * DAY,
                    recency_days=500,
                    frequency=2,
                    monetary_cents=30_000,
                    avg_order_cents=15_000,
                    r_score=1,
                    f_score=2,
                    m_score=2,
                    rfm_segment="hibernating",
                    lifecycle="lapsed",
                    value_tier="low",
                ),
            ],
        )
        conn.execute(
            insert(Consent),
            [
                _consent(ann, "email", "granted", NOW - 300 * DAY),
                _consent(bob, "email", "granted", NOW - 300 * DAY),
                _consent(bob, "email", "withdrawn", NOW - 5 * DAY),
                _consent(cai, "sms", "granted", NOW - 300 * DAY),
                _consent(cai, "mail", "withdrawn", NOW - 300 * DAY),
            ],
        )
        conn.execute(
            insert(Order),
            [
                *(
                    _order(ann, f"a{n}", NOW - (10 + 30 * n) * DAY, 20_000, "Garden")
                    for n in range(3)
                ),
                *(_order(ann, f"a{n}", NOW - (600 + n) * DAY, 30_000, "kitchen") for n in (3, 4)),
                *(
                    _order(cai, f"c{n}", NOW - (500 + 20 * n) * DAY, 15_000, "Kitchen")
                    for n in (0, 1)
                ),
            ],
        )
        campaign = conn.execute(
            insert(Campaign).returning(Campaign.id),
            {
                "key": "old-1",
                "name": "An earlier campaign",
                "kind": "batch",
                "spec_yaml": "",
                "spec_hash": "0" * 64,
                "salt": "s",
                "status": "completed",
                "starts_at": NOW - 30 * DAY,
                "created_at": NOW - 30 * DAY,
                "updated_at": NOW - 30 * DAY,
            },
        ).scalar_one()
        contacts = {
            who: conn.execute(
                insert(Contact).returning(Contact.id),
                {
                    "campaign_id": campaign,
                    "customer_id": ids[who],
                    "status": status,
                    "entered_at": NOW - 30 * DAY,
                },
            ).scalar_one()
            for who, status in (("ann", "treated"), ("cai", "held_out"))
        }
        conn.execute(
            insert(Response),
            {
                "contact_id": contacts["ann"],
                "campaign_id": campaign,
                "customer_id": ann,
                "kind": "purchase",
                "attribution": "direct",
                "occurred_at": NOW - 20 * DAY,
                "recorded_at": NOW - 20 * DAY,
                "value_cents": 20_000,
                "source": "shop",
                "source_ref": "a1",
            },
        )
    return ids


def _consent(customer_id: int, channel: str, status: str, at: datetime) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "channel": channel,
        "status": status,
        "recorded_at": at,
        "source": "test",
        "evidence": "",
    }


def _order(customer_id: int, ref: str, at: datetime, cents: int, category: str) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "source_name": "shop",
        "external_order_id": ref,
        "ordered_at": at,
        "amount_cents": cents,
        "currency": "CNY",
        "base_amount_cents": cents,
        "quantity": 1,
        "channel": "web",
        "category": category,
        "brand": "Acme",
    }
