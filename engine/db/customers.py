"""Named statements behind the customer import: look up matches, apply a plan.

Each batch costs a fixed number of statements whatever its size: three
indexed IN-lookups for the keys, two for the matched customers' state, then
one driver-level executemany per table (see `engine.db.bulk`). No per-row
SELECT.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    String,
    any_,
    bindparam,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT, TEXT

from engine.core.customers import PROFILE_FIELDS, Customer, Origin, Source
from engine.core.dedup import BatchPlan, Known
from engine.db import bulk
from engine.db.models import Consent, CustomerSource
from engine.db.models import Customer as CustomerRow

C = CustomerRow.__table__
S = CustomerSource.__table__
K = Consent.__table__
NEXT_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('customers', 'id')) FROM generate_series(1, :n)"
)
ANALYZE_FIRST = 5000  # new customers before the first refresh of statistics (PostgreSQL)
IN_CHUNK = 5000  # keys per lookup statement (each list is one JSON or array parameter)
ROW_COLUMNS = (*PROFILE_FIELDS, "external_id", "attributes", "origin", "trust", "data_as_of")
LINK_COLUMNS = (
    "customer_id",
    "source_name",
    "origin",
    "source_ref",
    "trust",
    "import_batch_id",
    "first_seen_at",
)
# Columns that hold dates, datetimes or JSON (converted for the driver).
TYPED = ("birth_date", "attributes", "data_as_of", "created_at", "updated_at")
CONSENT_COLUMNS = ("customer_id", "channel", "status", "recorded_at", "source", "evidence")


class SqlCustomerStore:
    """The customer-import port over SQLAlchemy Core (SQLite and PostgreSQL).

    On PostgreSQL the store keeps the planner's statistics up with the
    tables it grows: with none (a new database, or autovacuum behind or
    off), the lookups' ``= ANY(array)`` of 5,000 keys were planned as a
    sequential scan of customers and a scan of every link of the source,
    160-200 ms each per batch at 700k customers instead of a few ms. It
    analyses after the first `ANALYZE_FIRST` new customers and then each
    time the table has grown fourfold (5k, 20k, 80k, 320k, 1.28M), as a
    fraction of the table the statistics of unique keys still hold.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._grown = 0  # customers created since the statistics were last refreshed
        self._counted = 0  # customers the planner counted then

    def lookup(
        self, source: str, refs: Collection[str], emails: Collection[str], phones: Collection[str]
    ) -> Known:
        """Stored customers sharing any key with a batch, with their links and consents."""
        known = Known()
        with self.engine.connect() as conn:
            for chunk in _chunks(refs):
                rows = conn.execute(
                    select(S.c.source_ref, S.c.customer_id).where(
                        S.c.source_name == source,
                        _among(conn, S.c.source_ref, chunk),
                        S.c.source_ref != "",
                    )  # the last term matches the partial unique index
                )
                known.by_ref.update({ref: cid for ref, cid in rows})
            known.by_email = _first_ids(conn, C.c.email, emails)
            known.by_phone = _first_ids(conn, C.c.phone, phones)
            ids = {*known.by_ref.values(), *known.by_email.values(), *known.by_phone.values()}
            for chunk in _chunks(ids):
                for row in conn.execute(
                    select(C.c.id, *C.c[ROW_COLUMNS]).where(_among(conn, C.c.id, chunk))
                ):
                    known.customers[row.id] = _customer(row)
                links = conn.execute(
                    select(S.c.customer_id, S.c.source_ref).where(
                        S.c.source_name == source, _among(conn, S.c.customer_id, chunk)
                    )
                )
                known.links.update((cid, ref) for cid, ref in links)
                known.consents.update(_latest_consents(conn, chunk))
        return known

    def settle(self) -> None:
        """Refresh planner statistics after a bulk import.

        Later statements join these tables with staged batches (the order
        import); stale statistics make PostgreSQL hash whole tables per batch.
        """
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                _analyze(conn)
            else:
                conn.exec_driver_sql("PRAGMA optimize")

    def _keep_statistics(self, conn: Connection, created: int) -> None:
        self._grown += created
        if (
            self._grown >= max(ANALYZE_FIRST, 3 * self._counted)
            and conn.dialect.name == "postgresql"
        ):
            self._counted, self._grown = _analyze(conn), 0

    def apply(self, plan: BatchPlan, source: Source, batch_id: int, now: datetime) -> None:
        """Write one batch's plan in a single transaction."""
        with self.engine.begin() as conn:
            if plan.updated:
                # Updates first: on SQLite this takes the write lock before ids are read.
                bulk.update_many(
                    conn,
                    "customers",
                    (*ROW_COLUMNS, "updated_at"),
                    [(*_row(c), now, c.id) for c in plan.updated],
                    typed=TYPED,
                )
            if plan.created:
                ids = _insert_customers(
                    conn, [(*_row(c), source.name, batch_id, now, now) for c in plan.created]
                )
                for customer, new_id in zip(plan.created, ids, strict=True):
                    customer.id = new_id
            if plan.links:
                bulk.insert_many(
                    conn,
                    "customer_sources",
                    LINK_COLUMNS,
                    [
                        (c.id, source.name, source.origin.value, ref, source.trust, batch_id, now)
                        for c, ref, _line in plan.links
                    ],
                    typed=("first_seen_at",),
                )
            if plan.consents:
                bulk.insert_many(
                    conn,
                    "consents",
                    CONSENT_COLUMNS,
                    [
                        (
                            change.customer.id,
                            change.channel,
                            "granted" if change.granted else "withdrawn",
                            now,
                            source.name,
                            f"import batch {batch_id}, line {change.line}",
                        )
                        for change in plan.consents
                    ],
                    typed=("recorded_at",),
                )
            self._keep_statistics(conn, len(plan.created))


def _analyze(conn: Connection) -> int:
    """Refresh PostgreSQL's statistics of the tables an import grows; returns
    the customers the planner now counts."""
    conn.exec_driver_sql("ANALYZE customers, customer_sources, consents")
    found = "SELECT reltuples FROM pg_class WHERE oid = 'customers'::regclass"
    return int(conn.exec_driver_sql(found).scalar_one())


def _insert_customers(conn: Connection, rows: list[tuple[Any, ...]]) -> list[int]:
    """Insert new customers; returns their ids in the order of `rows`.

    Ordered INSERT .. RETURNING costs one statement per row on SQLite and a
    huge statement to parse on PostgreSQL, so instead: PostgreSQL draws the
    ids from the table's sequence first (safe under concurrency); SQLite
    inserts with one executemany and reads the ids back, because a new rowid
    is max(rowid) + 1 and the transaction holds SQLite's only write lock from
    the first row to the last, so they are consecutive.
    """
    columns = (*ROW_COLUMNS, "source_name", "import_batch_id", "created_at", "updated_at")
    if conn.dialect.name == "postgresql":
        ids = list(conn.execute(NEXT_IDS, {"n": len(rows)}).scalars())
        bulk.insert_many(
            conn,
            "customers",
            ("id", *columns),
            [(i, *r) for i, r in zip(ids, rows, strict=True)],
            typed=TYPED,
        )
        return ids
    bulk.insert_many(conn, "customers", columns, rows, typed=TYPED)
    last = int(conn.execute(select(func.max(C.c.id))).scalar_one())
    return list(range(last - len(rows) + 1, last + 1))


def _among(conn: Connection, column: Any, values: list[Any]) -> Any:
    """`column IN values` with ONE bound parameter, not one per value: compiling
    and parsing thousands of placeholders per lookup costs more than the lookup.
    PostgreSQL: ``= ANY(array)``; SQLite: ``IN (SELECT value FROM json_each(?))``.
    """
    if conn.dialect.name == "postgresql":
        kind = BIGINT if isinstance(values[0], int) else TEXT
        return column == any_(bindparam(None, values, type_=ARRAY(kind)))
    listed = select(literal_column("value")).select_from(
        func.json_each(bindparam(None, json.dumps(values), type_=String))
    )
    return column.in_(listed.scalar_subquery())


def _chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    items = list(values)
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


def _first_ids(conn: Connection, column: Any, values: Collection[str]) -> dict[str, int]:
    """value -> lowest customer id holding it (legacy duplicates resolve stably)."""
    found: dict[str, int] = {}
    for chunk in _chunks(values):
        rows = conn.execute(
            select(column, func.min(C.c.id)).where(_among(conn, column, chunk)).group_by(column)
        )
        found.update({value: cid for value, cid in rows})
    return found


def _latest_consents(conn: Connection, ids: list[int]) -> dict[tuple[int, str], bool]:
    """Current consent per (customer, channel): the newest ledger row wins."""
    newest = (
        select(func.max(K.c.id))
        .where(_among(conn, K.c.customer_id, ids))
        .group_by(K.c.customer_id, K.c.channel)
    )
    rows = conn.execute(select(K.c.customer_id, K.c.channel, K.c.status).where(K.c.id.in_(newest)))
    return {(cid, channel): status == "granted" for cid, channel, status in rows}


def _customer(row: Row[Any]) -> Customer:
    profile = {name: value for name in PROFILE_FIELDS if (value := row._mapping[name]) is not None}
    return Customer(
        id=row.id,
        profile=profile,
        attributes=dict(row.attributes or {}),
        origin=Origin(row.origin),
        trust=row.trust,
        data_as_of=row.data_as_of,
        external_id=row.external_id,
    )


def _row(customer: Customer) -> tuple[Any, ...]:
    """Values in ROW_COLUMNS order."""
    get = customer.profile.get
    return (
        *[get(name) for name in PROFILE_FIELDS],
        customer.external_id,
        customer.attributes,
        customer.origin.value,
        customer.trust,
        customer.data_as_of,
    )
