"""Order records from import files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from engine.core import normalize

REQUIRED = ("order_id", "customer_id", "ordered_at", "amount")
FIELDS = (*REQUIRED, "currency", "quantity", "channel", "category", "brand")


@dataclass(frozen=True, slots=True)
class OrderOptions:
    base_currency: str
    rates: Mapping[str, Decimal]  # units of base currency per unit; base itself is 1
    default_zone: ZoneInfo
    now: datetime  # orders dated after this are refused as typos


@dataclass(frozen=True, slots=True)
class OrderRecord:
    line: int
    order_ref: str
    customer_ref: str
    ordered_at: datetime
    amount_cents: int
    currency: str
    base_amount_cents: int
    quantity: int
    channel: str | None
    category: str | None
    brand: str | None


def parse_order(
    line: int, row: Mapping[str, str], mapping: Mapping[str, str], options: OrderOptions
) -> OrderRecord:
    """Validate one CSV row of an orders file; raises `normalize.Invalid`."""
    value = {name: (row.get(column) or "").strip() for name, column in mapping.items()}
    missing = [name for name in REQUIRED if not value.get(name)]
    if missing:
        raise normalize.Invalid(f"missing {', '.join(missing)}")
    ordered_at = normalize.instant(value["ordered_at"], options.default_zone)
    if ordered_at > options.now:
        raise normalize.Invalid(f"ordered_at {value['ordered_at']!r} is in the future")
    currency = (value.get("currency") or options.base_currency).upper()
    rate = Decimal(1) if currency == options.base_currency else options.rates.get(currency)
    if rate is None:
        raise normalize.Invalid(
            f"currency {currency!r} has no exchange rate to {options.base_currency} in config"
        )
    cents = normalize.cents(value["amount"])
    quantity = value.get("quantity")
    return OrderRecord(
        line=line,
        order_ref=value["order_id"],
        customer_ref=value["customer_id"],
        ordered_at=ordered_at,
        amount_cents=cents,
        currency=currency,
        base_amount_cents=int((cents * rate).to_integral_value()),
        quantity=normalize.count(quantity) if quantity else 1,
        channel=value.get("channel") or None,
        category=value.get("category") or None,
        brand=value.get("brand") or None,
    )
