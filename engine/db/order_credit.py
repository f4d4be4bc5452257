"""Named statements that credit imported orders set-based, before the Python pass.

An order whose customer has no counted contact (treated or held out) can
only be attributed ``none``: `credit_responses` would read an empty contact
history for it and store the response with no contact. At import volumes
that Python pass cost ~35 µs per order (read back, attribute, stage, insert),
more than importing the order. So one INSERT .. SELECT stores those
responses exactly as the Python path would (same columns, ``detail`` empty,
ON CONFLICT DO NOTHING on uq_responses_source_ref), and the Python pass runs
only when an order of a contacted customer is left.

Before any campaign has counted contacts (the first loads of a customer
base, the largest imports) nothing can claim any order, so the order import
writes each batch's ``none`` responses with the batch itself
(`credit_new_orders`, or the PostgreSQL load statement in engine.db.orders),
in the writer thread and the same transaction: no second pass over the
orders, and no committed order without its response.

`contacts` has no customer-first index (it would cost every launch), so the
contacted customers are one set per statement, never a probe per order:
PostgreSQL plans the correlated NOT EXISTS as a hash anti-join; SQLite
evaluates the uncorrelated ``NOT IN (SELECT ..)`` once into a temporary
index (``customer_id`` is NOT NULL, so NOT IN means NOT EXISTS).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, TextClause, bindparam, text

from engine.core.tracking.attribution import COUNTED
from engine.db.types import UTCDateTime

_STATUSES = ", ".join(f"'{status}'" for status in COUNTED)
# The orders in scope: those of one import batch, or (no batch) every order of the source.
_SCOPE = {
    True: "o.source_name = :source AND o.import_batch_id = :batch_id",
    False: "o.source_name = :source",
}
_CONTACTED = f"SELECT customer_id FROM contacts WHERE status IN ({_STATUSES})"
_UNCONTACTED = {
    "sqlite": f"o.customer_id NOT IN ({_CONTACTED})",
    "postgresql": (
        "NOT EXISTS (SELECT 1 FROM contacts c"
        f" WHERE c.customer_id = o.customer_id AND c.status IN ({_STATUSES}))"
    ),
}
# The `none` purchase response of each order `o`, as the Python path stores it;
# `WHERE` before ON CONFLICT keeps SQLite's parser from reading it as a join clause.
INSERT_NONE_FROM = """
    INSERT INTO responses (source, source_ref, kind, customer_id, attribution,
                           occurred_at, recorded_at, value_cents, detail)
    SELECT o.source_name, o.external_order_id, 'purchase', o.customer_id, 'none',
           o.ordered_at, :now, o.base_amount_cents, '{{}}'
    FROM {orders} o
    WHERE {where}
    ON CONFLICT (source, source_ref, kind) DO NOTHING
"""
ANY_COUNTED = text(f"SELECT EXISTS (SELECT 1 FROM contacts WHERE status IN ({_STATUSES}))")
"""Whether any contact counts for attribution (treated or held out): while none
does, every order is credited ``none``."""
# The orders a batch has just inserted on SQLite: rowids above the largest one
# before its INSERT (SQLite writes one transaction at a time and numbers new
# rows max + 1), read back on the primary key while their pages are cached.
_NEW_ORDERS = "o.id > :before AND o.import_batch_id = :batch_id"
LAST_ORDER_ID = text("SELECT COALESCE(MAX(id), 0) FROM orders")
# Is any order in scope left for the Python pass: one of a contacted customer
# without its purchase response (uq_responses_source_ref serves the probe).
_ANY_LEFT = f"""
    SELECT EXISTS (
        SELECT 1 FROM orders o
        WHERE {{scope}} AND o.customer_id IN ({_CONTACTED})
          AND NOT EXISTS (SELECT 1 FROM responses r WHERE r.source = o.source_name
                          AND r.source_ref = o.external_order_id AND r.kind = 'purchase'))
"""


def credit_uncontacted(
    conn: Connection, source: str, batch_id: int | None, now: datetime
) -> tuple[int, bool]:
    """Store ``none`` purchase responses for the orders in scope whose customer
    has no counted contact; returns (how many were new, whether any order of
    a contacted customer is still without a response)."""
    scope = _SCOPE[batch_id is not None]
    params: dict[str, object] = {"source": source, "now": now}
    if batch_id is not None:
        params["batch_id"] = batch_id
    where = f"{scope} AND {_UNCONTACTED[conn.dialect.name]}"
    inserted = conn.execute(none_responses("orders", where), params)
    left = conn.execute(text(_ANY_LEFT.format(scope=scope)), params).scalar_one()
    return inserted.rowcount, bool(left)


def none_responses(orders: str, where: str) -> TextClause:
    """INSERT the ``none`` purchase responses of the rows `where` of `orders`
    (a table, or a CTE with the same columns), recorded at ``:now``."""
    statement = text(INSERT_NONE_FROM.format(orders=orders, where=where))
    return statement.bindparams(bindparam("now", type_=UTCDateTime()))


def credit_new_orders(conn: Connection, batch_id: int, before: int, now: datetime) -> int:
    """SQLite: ``none`` responses for the orders of `batch_id` inserted after
    order id `before` in this transaction; returns how many were new."""
    params = {"batch_id": batch_id, "before": before, "now": now}
    return int(conn.execute(none_responses("orders", _NEW_ORDERS), params).rowcount)
