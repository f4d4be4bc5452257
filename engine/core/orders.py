"""Order records from import files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def money(amount: str, currency: str, options: OrderOptions) -> tuple[int, str, int]:
    """(cents, currency, cents in the base currency) of an amount; raises `normalize.Invalid`.

    An empty currency is the base currency; others need a configured rate.
    """
    code = (currency or options.base_currency).upper()
    rate = Decimal(1) if code == options.base_currency else options.rates.get(code)
    if rate is None:
        raise normalize.Invalid(
            f"currency {code!r} has no exchange rate to {options.base_currency} in config"
        )
    cents = normalize.cents(amount)
    return cents, code, cents if rate == 1 else int((cents * rate).to_integral_value())


class OrderParser:
    """Validates the rows of one orders file; columns are resolved once, not per row."""

    def __init__(
        self, mapping: Mapping[str, str], header: Sequence[str], options: OrderOptions
    ) -> None:
        where = {column: index for index, column in enumerate(header)}
        self.index = {field: where.get(column, -1) for field, column in mapping.items()}
        self.options = options

    def _cell(self, cells: Sequence[str], field: str) -> str:
        index = self.index.get(field, -1)
        return cells[index].strip() if index >= 0 else ""

    def __call__(self, line: int, cells: Sequence[str]) -> OrderRecord:
        """One row (cells in header order) as a record; raises `normalize.Invalid`."""
        cell, options = self._cell, self.options
        order_ref, customer_ref = cell(cells, "order_id"), cell(cells, "customer_id")
        ordered_raw, amount = cell(cells, "ordered_at"), cell(cells, "amount")
        missing = [
            name
            for name, text in zip(
                REQUIRED, (order_ref, customer_ref, ordered_raw, amount), strict=True
            )
            if not text
        ]
        if missing:
            raise normalize.Invalid(f"missing {', '.join(missing)}")
        ordered_at = normalize.instant(ordered_raw, options.default_zone)
        if ordered_at > options.now:
            raise normalize.Invalid(f"ordered_at {ordered_raw!r} is in the future")
        cents, currency, base_cents = money(amount, cell(cells, "currency"), options)
        quantity = cell(cells, "quantity")
        return OrderRecord(
            line=line,
            order_ref=order_ref,
            customer_ref=customer_ref,
            ordered_at=ordered_at,
            amount_cents=cents,
            currency=currency,
            base_amount_cents=base_cents,
            quantity=normalize.count(quantity) if quantity else 1,
            channel=cell(cells, "channel") or None,
            category=cell(cells, "category") or None,
            brand=cell(cells, "brand") or None,
        )
