"""Business callbacks parsed: shop purchases and code redemptions, mail-house
events, call-centre dispositions. Each parser takes one raw item and returns
a typed event or raises `normalize.Invalid` with the reason it is quarantined.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from engine.core import normalize
from engine.core.orders import FIELDS, OrderOptions, OrderParser, OrderRecord, money

Invalid = normalize.Invalid
SHOP_TYPES: Final = ("purchase", "code_redeemed")
# Print-and-mail event names (Lob's, with or without the ``letter.`` prefix) -> ledger kinds.
MAIL_TYPES: Final = {
    "in_transit": "in_transit",
    "in_local_area": "in_transit",
    "processed_for_delivery": "in_transit",
    "delivered": "delivered",
    "re-routed": "rerouted",
    "rerouted": "rerouted",
    "returned_to_sender": "returned",
    "returned": "returned",
}
DISPOSITIONS: Final = (
    "sale",
    "appointment",
    "interested",
    "not_interested",
    "callback",
    "do_not_call",
    "wrong_number",
)
_UTC: Final = ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class ShopEvent:
    """A purchase (with its order) or a code redemption from the shop."""

    kind: str  # purchase | code_redeemed
    order_id: str
    occurred_at: datetime
    external_id: str | None
    email: str | None
    code: str | None  # a response code or a keycode, as given
    value_cents: int | None  # in the base currency
    order: OrderRecord | None = None  # purchases only
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reference:
    """What a mail or call event names: a send id and/or a response code."""

    send_id: int | None
    code: str | None


@dataclass(frozen=True, slots=True)
class MailEvent:
    kind: str  # engine.core.tracking.events.MAIL_KINDS
    occurred_at: datetime
    ref: Reference
    reason: str | None


@dataclass(frozen=True, slots=True)
class CallEvent:
    event_id: str | None
    disposition: str
    occurred_at: datetime
    ref: Reference
    value_cents: int | None
    phone: str | None
    note: str | None


def _text(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise Invalid(f"{name} must be a string")
    return str(value).strip()


def _object(raw: Any) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise Invalid("an event must be a JSON object")
    return raw


def _when(item: Mapping[str, Any], now: datetime, *names: str) -> datetime:
    text = next((t for name in names if (t := _text(item, name))), "")
    if not text:
        raise Invalid(f"missing {names[0]}")
    # naive times are read as UTC: callbacks come from systems, not people
    at = normalize.instant(text, _UTC)
    if at > now:
        raise Invalid(f"{names[0]} {text!r} is in the future")
    return at


def parse_shop(raw: Any, options: OrderOptions) -> ShopEvent:
    """One item of ``POST /webhooks/responses``; raises `Invalid`."""
    item = _object(raw)
    kind = _text(item, "type")
    if kind not in SHOP_TYPES:
        raise Invalid(f"type must be one of {', '.join(SHOP_TYPES)}")
    order_id = _text(item, "order_id")
    if not order_id:
        raise Invalid("missing order_id")
    occurred = _when(item, options.now, "occurred_at")
    customer = item.get("customer") or {}
    if not isinstance(customer, dict):
        raise Invalid("customer must be an object with external_id or email")
    external_id = _text(customer, "external_id") or None
    email = normalize.email(_text(customer, "email")) if _text(customer, "email") else None
    code = _text(item, "code") or _text(item, "keycode") or None
    if kind == "code_redeemed":
        if code is None:
            raise Invalid("a code_redeemed event carries a code or a keycode")
        amount = _text(item, "amount")
        cents = money(amount, _text(item, "currency"), options)[2] if amount else None
        return ShopEvent(kind, order_id, occurred, external_id, email, code, cents)
    if external_id is None and email is None:
        raise Invalid("a purchase names its customer (customer.external_id or customer.email)")
    order = _order(item, order_id, external_id or email or "", occurred, options)
    detail = {"items": len(item.get("items") or []), "currency": order.currency}
    return ShopEvent(
        kind, order_id, occurred, external_id, email, code, order.base_amount_cents, order, detail
    )


def _order(
    item: Mapping[str, Any], order_id: str, customer: str, at: datetime, options: OrderOptions
) -> OrderRecord:
    """The purchase as an order record, converted by the order import's parser."""
    items = item.get("items") or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise Invalid("items must be a list of objects")
    quantity = sum(normalize.count(_text(i, "quantity") or "1") for i in items) if items else 1
    category = _text(item, "category") or (_text(items[0], "category") if items else "")
    cells = {
        "order_id": order_id,
        "customer_id": customer,
        "ordered_at": at.isoformat(),
        "amount": _text(item, "amount"),
        "currency": _text(item, "currency"),
        "quantity": str(quantity),
        "channel": _text(item, "channel"),
        "category": category,
        "brand": _text(item, "brand"),
    }
    parse = OrderParser({f: f for f in FIELDS}, FIELDS, options)
    return parse(0, [cells[f] for f in FIELDS])


def _reference(item: Mapping[str, Any]) -> Reference:
    metadata = item.get("metadata") or (item.get("body") or {}).get("metadata") or {}
    if not isinstance(metadata, dict):
        metadata = {}
    send = _text(item, "send_id") or _text(metadata, "send_id")
    code = _text(item, "response_code") or _text(metadata, "response_code") or None
    if send and not send.isdigit():
        raise Invalid(f"send_id {send!r} is not a number")
    if not send and code is None:
        raise Invalid("an event names a send_id or a response_code")
    return Reference(int(send) if send else None, code)


def parse_mail(raw: Any, now: datetime) -> MailEvent:
    """One mail-house / print-API event (flat, or Lob's ``event_type.id`` shape)."""
    item = _object(raw)
    event_type = item.get("event_type")
    name = _text(event_type, "id") if isinstance(event_type, dict) else _text(item, "type")
    kind = MAIL_TYPES.get(name.rsplit(".", 1)[-1])
    if kind is None:
        raise Invalid(f"unknown mail event type {name!r}")
    occurred = _when(item, now, "occurred_at", "date_created")
    return MailEvent(kind, occurred, _reference(item), _text(item, "reason") or None)


def parse_call(raw: Any, options: OrderOptions) -> CallEvent:
    """One call-centre disposition; raises `Invalid`."""
    item = _object(raw)
    disposition = _text(item, "disposition").lower()
    if disposition not in DISPOSITIONS:
        raise Invalid(f"disposition must be one of {', '.join(DISPOSITIONS)}")
    occurred = _when(item, options.now, "occurred_at")
    amount = _text(item, "amount")
    cents = None
    if amount and disposition == "sale":
        cents = money(amount, _text(item, "currency"), options)[2]
    return CallEvent(
        _text(item, "id") or None,
        disposition,
        occurred,
        _reference(item),
        cents,
        _text(item, "phone") or None,
        _text(item, "note")[:200] or None,
    )
