"""The fields a segment can test: where each lives and which operators fit it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final, Literal

from engine.core.customers import PROFILE_FIELDS
from engine.core.scoring import LIFECYCLE_STAGES, RFM_SEGMENTS, VALUE_TIERS


class Kind(Enum):
    TEXT = "text"
    NUMBER = "number"
    MONEY = "money"  # in the base currency's units; stored as cents
    TIME = "time"
    DATE = "date"
    CHOICE = "choice"


@dataclass(frozen=True, slots=True)
class FieldInfo:
    kind: Kind
    table: Literal["customers", "customer_metrics"]
    column: str
    choices: tuple[str, ...] = ()


def _customer(kind: Kind, column: str, choices: tuple[str, ...] = ()) -> FieldInfo:
    return FieldInfo(kind, "customers", column, choices)


def _metric(kind: Kind, column: str, choices: tuple[str, ...] = ()) -> FieldInfo:
    return FieldInfo(kind, "customer_metrics", column, choices)


_TEXT_FIELDS: Final = (
    "external_id",
    *(name for name in PROFILE_FIELDS if name != "birth_date"),
    "source_name",
)
FIELDS: Final[dict[str, FieldInfo]] = {
    **{name: _customer(Kind.TEXT, name) for name in _TEXT_FIELDS},
    "origin": _customer(Kind.CHOICE, "origin", ("internal", "external")),
    "trust": _customer(Kind.NUMBER, "trust"),
    "birth_date": _customer(Kind.DATE, "birth_date"),
    "created_at": _customer(Kind.TIME, "created_at"),
    "first_order_at": _metric(Kind.TIME, "first_order_at"),
    "last_order_at": _metric(Kind.TIME, "last_order_at"),
    "recency_days": _metric(Kind.NUMBER, "recency_days"),
    "frequency": _metric(Kind.NUMBER, "frequency"),
    "monetary": _metric(Kind.MONEY, "monetary_cents"),
    "avg_order_value": _metric(Kind.MONEY, "avg_order_cents"),
    "rfm_recency": _metric(Kind.NUMBER, "r_score"),
    "rfm_frequency": _metric(Kind.NUMBER, "f_score"),
    "rfm_monetary": _metric(Kind.NUMBER, "m_score"),
    "rfm_segment": _metric(Kind.CHOICE, "rfm_segment", tuple(s.name for s in RFM_SEGMENTS)),
    "lifecycle": _metric(Kind.CHOICE, "lifecycle", LIFECYCLE_STAGES),
    "value_tier": _metric(Kind.CHOICE, "value_tier", VALUE_TIERS),
}

# Which operators make sense for which kind of field (checked in `check`).
OPERATORS: Final[dict[Kind, frozenset[str]]] = {
    Kind.TEXT: frozenset(["eq", "ne", "in", "not_in", "contains", "starts_with", "exists"]),
    Kind.CHOICE: frozenset(["eq", "ne", "in", "not_in", "exists"]),
    Kind.NUMBER: frozenset(
        ["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "exists"]
    ),
    Kind.MONEY: frozenset(["eq", "ne", "gt", "gte", "lt", "lte", "between", "exists"]),
    Kind.TIME: frozenset(["before", "after", "within", "exists"]),
    Kind.DATE: frozenset(["before", "after", "within", "exists"]),
}
