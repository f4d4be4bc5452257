"""Named read queries for the customer-base summary (demo, `campaign customers summary`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from engine.db.models import Customer, CustomerMetrics, CustomerSource, Order

C, M, S, ORD = (t.__table__ for t in (Customer, CustomerMetrics, CustomerSource, Order))


@dataclass(frozen=True)
class BaseSummary:
    customers: int
    orders: int
    revenue_cents: int
    by_lifecycle: tuple[tuple[str, int], ...]
    by_segment: tuple[tuple[str, int], ...]
    by_source: tuple[tuple[str, str, int], ...]  # source, origin, customers
    by_tier: tuple[tuple[str, int], ...]
    multi_source: int  # customers described by more than one source


def summarize(engine: Engine) -> BaseSummary:
    """Counts over the whole base; each is one grouped query on an indexed column."""
    with engine.connect() as conn:

        def grouped(column):  # type: ignore[no-untyped-def]
            rows = conn.execute(select(column, func.count()).group_by(column).order_by(column))
            return tuple((name or "-", count) for name, count in rows)

        by_source = conn.execute(
            select(S.c.source_name, S.c.origin, func.count(func.distinct(S.c.customer_id)))
            .group_by(S.c.source_name, S.c.origin)
            .order_by(S.c.source_name)
        )
        multi = (
            select(S.c.customer_id)
            .group_by(S.c.customer_id)
            .having(func.count(func.distinct(S.c.source_name)) > 1)
        )
        return BaseSummary(
            customers=conn.execute(select(func.count()).select_from(C)).scalar_one(),
            orders=conn.execute(select(func.count()).select_from(ORD)).scalar_one(),
            revenue_cents=conn.execute(
                select(func.coalesce(func.sum(ORD.c.base_amount_cents), 0))
            ).scalar_one(),
            by_lifecycle=grouped(M.c.lifecycle),
            by_segment=grouped(M.c.rfm_segment),
            by_source=tuple((name, origin, n) for name, origin, n in by_source),
            by_tier=grouped(M.c.value_tier),
            multi_source=conn.execute(
                select(func.count()).select_from(multi.subquery())
            ).scalar_one(),
        )
