"""Every condition and operator of the segment language, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func, select

from engine.bootstrap import Adapters
from engine.core.campaign.segment import Node
from engine.db.segments import C, Compiler, M

from .conftest import NOW
from .people import seed

NODE: TypeAdapter[Any] = TypeAdapter(Node)

CASES: list[tuple[dict[str, Any], set[str]]] = [
    # text: case-insensitive; ne / not_in also match a missing value
    ({"country": "CN"}, {"ann", "bob"}),
    ({"country": "cn"}, {"ann", "bob"}),
    ({"city": ["shanghai"]}, {"ann", "dan"}),
    ({"city": {"ne": "Shanghai"}}, {"bob", "cai"}),
    ({"city": {"not_in": ["Beijing"]}}, {"ann", "cai", "dan"}),
    ({"email": {"contains": "@X.cn"}}, {"ann", "dan"}),
    ({"email": {"starts_with": "BO"}}, {"bob"}),
    ({"email": {"contains": "%"}}, set()),  # LIKE wildcards are literal
    ({"email": {"exists": False}}, {"cai"}),
    ({"phone": {"exists": True}}, {"ann", "cai"}),
    # numbers (metrics; dan has none)
    ({"frequency": 5}, {"ann"}),
    ({"frequency": {"gt": 2}}, {"ann"}),
    ({"frequency": {"gte": 2}}, {"ann", "cai"}),
    ({"frequency": {"lt": 2}}, {"bob"}),
    ({"frequency": {"lte": 0}}, {"bob"}),
    ({"frequency": {"between": [1, 3]}}, {"cai"}),
    ({"frequency": [0, 2]}, {"bob", "cai"}),
    ({"frequency": {"not_in": [5]}}, {"bob", "cai", "dan"}),
    ({"frequency": {"ne": 0}}, {"ann", "cai", "dan"}),
    ({"rfm_monetary": {"gte": 4}}, {"ann"}),
    ({"trust": {"lt": 50}}, {"bob"}),
    # money in base-currency units
    ({"monetary": {"gte": 1000}}, {"ann"}),
    ({"monetary": {"between": [1, 300]}}, {"cai"}),
    ({"avg_order_value": {"lt": 200}}, {"cai"}),
    # choices
    ({"lifecycle": {"in": ["active", "lapsed"]}}, {"ann", "cai"}),
    ({"lifecycle": "prospect"}, {"bob"}),
    ({"lifecycle": {"exists": False}}, {"dan"}),
    ({"rfm_segment": "hibernating"}, {"cai"}),
    ({"value_tier": {"ne": "top"}}, {"bob", "cai", "dan"}),
    ({"origin": "external"}, {"bob"}),
    # times and dates: relative and absolute moments
    ({"last_order_at": {"before": "90 days ago"}}, {"cai"}),
    ({"last_order_at": {"within": "30d"}}, {"ann"}),
    ({"last_order_at": {"after": "2025-01-01"}}, {"ann", "cai"}),
    ({"last_order_at": {"after": "today"}}, set()),
    ({"created_at": {"before": "now"}}, {"ann", "bob", "cai", "dan"}),
    ({"birth_date": {"before": "1988-01-01"}}, {"cai"}),
    ({"birth_date": {"exists": True}}, {"ann", "cai"}),
    # special conditions
    ({"source": "external"}, {"bob"}),
    ({"source": "listco"}, {"bob"}),
    ({"source": ["internal"]}, {"ann", "cai", "dan"}),
    ({"consent": "email"}, {"ann"}),
    ({"consent": "sms"}, {"cai"}),
    ({"tag": "staff"}, {"ann", "dan"}),
    ({"tag": "vip"}, {"ann"}),
    ({"tag": "sta"}, set()),
    ({"attribute": {"name": "loyalty_card", "eq": "GOLD"}}, {"ann"}),
    ({"attribute": {"name": "loyalty_card", "exists": False}}, {"bob", "cai", "dan"}),
    ({"birthday": {"within_next": "7d"}}, {"ann"}),
    ({"birthday": {"within_next": "1d"}}, set()),
    ({"bought": {"category": "garden", "within": "365d"}}, {"ann"}),
    ({"bought": {"category": ["KITCHEN"]}}, {"ann", "cai"}),
    ({"bought": {"category": "kitchen", "within": "365d"}}, set()),
    ({"bought": {"brand": "acme", "channel": "web"}}, {"ann", "cai"}),
    ({"orders": {"within": "365d", "count": {"gte": 3}}}, {"ann"}),
    ({"orders": {"count": {"lt": 1}}}, {"bob", "dan"}),
    ({"orders": {"count": 2}}, {"cai"}),
    ({"orders": {"count": {"lt": 1.5}}}, {"bob", "dan"}),
    ({"orders": {"count": {"lte": 2.5, "gt": 1}}}, {"cai"}),
    ({"orders": {"within": "365d", "amount": {"lte": 100}}}, {"bob", "cai", "dan"}),
    ({"orders": {"amount": {"gt": 250, "lt": 1000}}}, {"cai"}),
    ({"contacted": {"campaign": "old-1", "within": "60d"}}, {"ann"}),
    ({"contacted": {"within": "10d"}}, set()),
    ({"contacted": {"campaign": ["nope"]}}, set()),
    ({"responded": {"campaign": "old-1"}}, {"ann"}),
    ({"responded": {"within": "10d"}}, set()),
    ({"responded": {"kind": "reply"}}, set()),
    # groups
    ({"all": [{"country": "CN"}], "none": [{"tag": "staff"}]}, {"bob"}),
    ({"any": [{"lifecycle": "prospect"}, {"tag": "staff"}]}, {"ann", "bob", "dan"}),
    ({"none": [{"city": "Beijing"}]}, {"ann", "cai", "dan"}),  # unknown city is kept
    (
        {"all": [{"any": [{"consent": "email"}, {"consent": "sms"}]}, {"origin": "internal"}]},
        {"ann", "cai"},
    ),
]


def matched(adapters: Adapters, ids: dict[str, int], segment: dict[str, Any]) -> set[str]:
    names = {value: key for key, value in ids.items()}
    node = NODE.validate_python(segment)
    where = Compiler(NOW, ZoneInfo("Asia/Shanghai")).where(node)
    query = select(C.c.id).select_from(C.outerjoin(M, M.c.customer_id == C.c.id)).where(where)
    with adapters.engine.connect() as conn:
        return {names[row] for row in conn.execute(query).scalars()}


def test_every_condition_selects_the_same_customers_on_both_databases(adapters: Adapters) -> None:
    ids = seed(adapters.engine)
    wrong = []
    for segment, expected in CASES:
        got = matched(adapters, ids, segment)
        if got != expected:
            wrong.append(f"{segment}: got {sorted(got)}, expected {sorted(expected)}")
    assert wrong == []


def test_no_segment_means_everyone(adapters: Adapters) -> None:
    seed(adapters.engine)
    where = Compiler(NOW, ZoneInfo("UTC")).where(None)
    with adapters.engine.connect() as conn:
        assert conn.execute(select(func.count()).where(where).select_from(C)).scalar() == 4


@pytest.mark.parametrize(
    ("segment", "message"),
    [
        ({"lifecyle": {"in": ["new"]}}, "unknown filter 'lifecyle'; allowed: all, any, none"),
        ({"rfm_recency": 1, "rfm_frequency": 2}, "one condition per list item"),
        ({"frequency": {"around": 3}}, "Extra inputs are not permitted"),
        ({"frequency": {}}, "give at least one operator"),
        ({"all": []}, "at least 1 item"),
        ({"tag": "two words"}, "String should match pattern"),
        ({"consent": "fax"}, "Input should be 'email', 'sms', 'mail' or 'call'"),
        ({"orders": {"within": "30d"}}, "give count or amount"),
        ({"last_order_at": {"before": "last tuesday"}}, "expected a moment like '90 days ago'"),
        ({"birthday": {"within_next": "2w", "in": 3}}, "Extra inputs are not permitted"),
    ],
)
def test_malformed_segments_are_refused_with_a_reason(
    segment: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        NODE.validate_python(segment)
