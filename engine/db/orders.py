"""Named statements behind the order import.

Each batch is staged in a temporary table (COPY on PostgreSQL, executemany
on SQLite) and resolved set-based: an INSERT .. SELECT joins staged rows to
their customers and skips known order ids (ON CONFLICT DO NOTHING makes
re-imports no-ops), the staged rows whose customer is unknown become
rejects, and, while no contact counts for attribution, the new orders' ``none``
purchase responses are written in the same transaction (engine.db.order_credit).
PostgreSQL does all of it in one statement (`LOAD_POSTGRESQL`), SQLite in
a few in-process ones.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.exc import OperationalError

from engine.core.orders import OrderRecord
from engine.db import bulk
from engine.db.models import Order
from engine.db.order_credit import (
    ANY_COUNTED,
    INSERT_NONE_FROM,
    LAST_ORDER_ID,
    credit_new_orders,
)
from engine.db.types import UTCDateTime
from engine.db.upsert import insert_new

DEADLOCK = "40P01"  # PostgreSQL's deadlock_detected
STAGE_COLUMNS = OrderRecord._fields
CREATE_STAGE = {
    "sqlite": """CREATE TEMP TABLE IF NOT EXISTS order_stage (
        line INTEGER, order_ref TEXT, customer_ref TEXT, ordered_at TEXT,
        amount_cents INTEGER, currency TEXT, base_amount_cents INTEGER, quantity INTEGER,
        channel TEXT, category TEXT, brand TEXT, customer_id INTEGER)""",
    "postgresql": """CREATE TEMP TABLE order_stage (
        line INTEGER, order_ref TEXT, customer_ref TEXT, ordered_at TIMESTAMPTZ,
        amount_cents BIGINT, currency TEXT, base_amount_cents BIGINT, quantity INTEGER,
        channel TEXT, category TEXT, brand TEXT) ON COMMIT DROP""",
}
# Each staged row's customer is a scalar subquery: one probe of the partial
# unique index on (source_name, source_ref) per row (`source_ref <> ''` lets
# both databases use it), whatever the statistics. A join does the same
# probes on a good plan, but SQLite (3.38+) first built a Bloom filter over
# the whole of customer_sources for it (100-340 ms per batch at 1M
# customers, against ~4 ms for the probes: the order import fell from 52k
# to 21k rows/s between 100k and 1M customers), and PostgreSQL needed an
# ANALYZE of the temporary table every batch (11-19 ms of ~120) to keep
# from hashing all of customer_sources.
_CUSTOMER_OF = """(SELECT cs.customer_id FROM customer_sources cs
    WHERE cs.source_name = :customer_source AND cs.source_ref = {ref} AND cs.source_ref <> '')"""
# The new orders among `rows` (with their customer_id), in file order, known
# order ids skipped. `WHERE` also keeps SQLite's parser from reading ON
# CONFLICT as a join clause.
_INSERT_ORDERS = """
    INSERT INTO orders (customer_id, source_name, external_order_id, ordered_at, amount_cents,
                        currency, base_amount_cents, quantity, channel, category, brand,
                        import_batch_id)
    SELECT customer_id, :source, order_ref, ordered_at, amount_cents, currency,
           base_amount_cents, quantity, channel, category, brand, :batch_id
    FROM {rows} WHERE customer_id IS NOT NULL
    ORDER BY {order}
    ON CONFLICT (source_name, external_order_id) DO NOTHING
"""
RESOLVE_STAGED = text(
    "UPDATE order_stage SET customer_id = " + _CUSTOMER_OF.format(ref="order_stage.customer_ref")
)
INSERT_STAGED = text(_INSERT_ORDERS.format(rows="order_stage", order="rowid"))  # rowid: file order
UNKNOWN_CUSTOMERS = text(
    "SELECT line, customer_ref FROM order_stage WHERE customer_id IS NULL ORDER BY rowid"
)

# One statement and one round trip per batch on PostgreSQL: the staged rows
# find their customers once (MATERIALIZED: both the INSERT and the
# unknown-customer arrays read it), and the `none` responses come from the
# INSERT's RETURNING, not from reading the orders back.
LOAD_POSTGRESQL = text(
    """
    WITH staged AS MATERIALIZED (
        SELECT s.*, """
    + _CUSTOMER_OF.format(ref="s.customer_ref")
    + """ AS customer_id
        FROM order_stage s
    ), new_orders AS ("""
    + _INSERT_ORDERS.format(rows="staged", order="line")
    + """
        RETURNING source_name, external_order_id, customer_id, ordered_at, base_amount_cents
    ), credited AS ("""
    + INSERT_NONE_FROM.format(orders="new_orders", where=":credit")
    + """ RETURNING 1)
    SELECT (SELECT count(*) FROM new_orders), (SELECT count(*) FROM credited),
           ARRAY(SELECT line FROM staged WHERE customer_id IS NULL ORDER BY line),
           ARRAY(SELECT customer_ref FROM staged WHERE customer_id IS NULL ORDER BY line)
    """
).bindparams(bindparam("now", type_=UTCDateTime()))


class SqlOrderStore:
    """The order-import port over SQLAlchemy (SQLite and PostgreSQL).

    With `credit_at`, batches also write the ``none`` purchase responses of
    their new orders (recorded at `credit_at`) while no contact counts for
    attribution, checked at the first batch: an order file is dated up to
    the import's `now`, before the window of any contact made later.
    `credited` says what was written.

    On PostgreSQL two batches load at once (`writers`), each on its own
    connection, so that two server processes share the work. Two batches
    holding the same order ids in crossing order can deadlock; the server
    then aborts one, and it runs again once.
    """

    def __init__(self, engine: Engine, source: str, credit_at: datetime | None = None) -> None:
        self.engine = engine
        self.source = source
        self.credit_at = credit_at
        self.writers = 2 if engine.dialect.name == "postgresql" else 1
        self._crediting: bool | None = None  # decided in the first batch's transaction
        self._credited = 0
        self._lock = threading.Lock()  # writer threads share the two above

    def credited(self) -> int | None:
        """``none`` responses the batches wrote; None when they wrote none
        because some contact counts (engine.services.responding credits them)."""
        return self._credited if self._crediting else None

    def load(
        self, records: list[OrderRecord], customer_source: str, batch_id: int
    ) -> tuple[int, list[tuple[int, str]]]:
        """Insert the batch's new orders; returns (inserted, [(line, unknown customer)])."""
        try:
            inserted, credited, unknown = self._committed(records, customer_source, batch_id)
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != DEADLOCK:
                raise
            # rolled back by the server: run once more, now that the other writer is ahead
            inserted, credited, unknown = self._committed(records, customer_source, batch_id)
        with self._lock:
            self._credited += credited
        return inserted, unknown

    def _committed(
        self, records: list[OrderRecord], customer_source: str, batch_id: int
    ) -> tuple[int, int, list[tuple[int, str]]]:
        with self.engine.begin() as conn:
            return self._load(conn, records, customer_source, batch_id)

    def _load(
        self, conn: Connection, records: list[OrderRecord], customer_source: str, batch_id: int
    ) -> tuple[int, int, list[tuple[int, str]]]:
        """(inserted, credited, unknown customers) of one batch, in `conn`'s transaction."""
        with self._lock:
            if self._crediting is None:
                self._crediting = (
                    self.credit_at is not None and not conn.execute(ANY_COUNTED).scalar_one()
                )
        _stage(conn, records)
        params = {"source": self.source, "batch_id": batch_id, "customer_source": customer_source}
        if conn.dialect.name == "postgresql":
            params |= {"now": self.credit_at, "credit": self._crediting}
            inserted, credited, lines, refs = conn.execute(LOAD_POSTGRESQL, params).one()
            return inserted, credited, list(zip(lines, refs, strict=True))
        conn.execute(RESOLVE_STAGED, {"customer_source": customer_source})
        before = conn.execute(LAST_ORDER_ID).scalar_one()
        inserted = conn.execute(INSERT_STAGED, params).rowcount
        credited = 0
        if self._crediting and inserted and self.credit_at is not None:
            credited = credit_new_orders(conn, batch_id, before, self.credit_at)
        unknown = conn.execute(UNKNOWN_CUSTOMERS)
        return inserted, credited, [(line, ref) for line, ref in unknown]


def _stage(conn: Connection, records: list[OrderRecord]) -> None:
    dialect = conn.dialect.name
    conn.exec_driver_sql(CREATE_STAGE[dialect])
    if dialect == "sqlite":
        conn.exec_driver_sql("DELETE FROM order_stage")  # the temp table lives with the connection
    rows: list[Any] = records  # OrderRecord's fields are STAGE_COLUMNS: COPY takes them as they are
    if dialect == "sqlite":  # but SQLite gets its timestamps as text
        stamp = bulk.timestamp_for(dialect)
        rows = [(*r[:3], stamp(r[3]), *r[4:]) for r in records]
    bulk.insert_many(conn, "order_stage", STAGE_COLUMNS, rows, typed=())


def insert_orders(conn: Connection, source: str, orders: list[tuple[int, OrderRecord]]) -> int:
    """Insert (customer id, record) orders of `source` not known yet; returns how many.

    The order import's dedupe: ON CONFLICT on uq_orders_source_order keeps the
    first, so an order posted by the shop and imported from a file counts once.
    """
    if not orders:
        return 0
    rows = [
        {
            "customer_id": customer_id,
            "source_name": source,
            "external_order_id": r.order_ref,
            "ordered_at": r.ordered_at,
            "amount_cents": r.amount_cents,
            "currency": r.currency,
            "base_amount_cents": r.base_amount_cents,
            "quantity": r.quantity,
            "channel": r.channel,
            "category": r.category,
            "brand": r.brand,
            "import_batch_id": None,
        }
        for customer_id, r in orders
    ]
    statement = insert_new(conn, Order, ["source_name", "external_order_id"])
    return len(list(conn.execute(statement.returning(Order.id), rows).scalars()))
