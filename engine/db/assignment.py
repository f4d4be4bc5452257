"""Assignment and response codes as SQL expressions, twins of the pure core.

`mixed` (mod 10,000) is `engine.core.campaign.assign.Hasher.bucket`, `response_code`
is `engine.core.codes.CodeBook.code`, written in integer arithmetic that
SQLite and PostgreSQL evaluate exactly alike (every product stays below
2^63), so a launch assigns and codes a million contacts in set-based
statements and a test can recompute any row in Python.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String, case, cast, func, literal, select

from engine.core.campaign.assign import BUCKETS, PRIME, Hasher, SplitRule
from engine.core.campaign.eligibility import ELIGIBLE
from engine.core.codes import BASE, CHECK_PRIME, CHECKS, DIGITS, LENGTH, SPACE, CodeBook
from engine.db.segments import C, M

STRATA = {
    "lifecycle": M.c.lifecycle,
    "rfm_segment": M.c.rfm_segment,
    "value_tier": M.c.value_tier,
    "origin": C.c.origin,
}


def hashed(split: SplitRule) -> list[Any]:
    """The screening columns a split needs: the hash of the customer id and the stratum."""
    stratum = STRATA[split.stratify_by] if split.stratify_by else literal("")
    return [mixed(C.c.id, split.hasher).label("mixed"), stratum.label("stratum")]


def mixed(customer_id: Any, hasher: Hasher) -> Any:
    """The hash before the bucket modulus (ranks ties least in stratified splits).

    Nested scalar expressions repeat the inner rounds; they are integer
    arithmetic on one row, far cheaper than the scan that feeds them.
    """
    h1 = (customer_id % PRIME * hasher.a + hasher.b) % PRIME
    h2 = h1 * h1 % PRIME
    h3 = (h2 * h2 % PRIME * h1 + hasher.c) % PRIME
    return (h3 * hasher.d + hasher.e) % PRIME


def cell_by_bucket(bucket_expr: Any, bounds: list[tuple[int, int]]) -> Any:
    """CASE mapping a bucket to a cell id, given (upper bound, cell id) in order."""
    return case(*[(bucket_expr < bound, cell_id) for bound, cell_id in bounds])


def cell_by_rank(rank: Any, size: Any, bounds: list[tuple[int, int]]) -> Any:
    """CASE for stratified splits: rank r of n goes to the first cell with (r-1)/n < bound."""
    return case(*[((rank - 1) * BUCKETS < size * bound, cell_id) for bound, cell_id in bounds])


def assign_cells(
    source: Any, bounds: list[tuple[int, Any]], stratify_by: str | None, keep: tuple[str, ...] = ()
) -> Any:
    """(customer_id, reason, cell, *keep) over `source` (customer_id, reason, mixed, stratum, *keep).

    Without stratification the cell is the hash bucket's; with it, customers
    are ranked by hash within their stratum and cut at the cumulative shares,
    so every stratum splits exactly as planned.
    """
    if stratify_by:
        eligible = source.c.reason == ELIGIBLE
        rank = func.row_number().over(
            partition_by=[eligible, source.c.stratum],
            order_by=[source.c.mixed, source.c.customer_id],
        )
        size = func.count().over(partition_by=[eligible, source.c.stratum])
        cell = cell_by_rank(rank, size, bounds)
    else:
        cell = cell_by_bucket(source.c.mixed % BUCKETS, bounds)
    kept = [source.c[name] for name in keep]
    return select(source.c.customer_id, source.c.reason, cell.label("cell"), *kept).subquery(
        "assigned"
    )


def response_code(contact_id: Any, book: CodeBook) -> Any:
    """``XXXX-XXXXC`` from the contact id (see engine.core.codes)."""
    value = (contact_id % SPACE * book.multiplier + book.offset) % SPACE
    chars = [
        func.substr(literal(DIGITS), cast(value // BASE**power % BASE + 1, Integer), 1)
        for power in range(LENGTH - 1, -1, -1)
    ]
    # the check is the value mod 31: the 7 data digits are exactly its base-30 expansion
    check = func.substr(literal(CHECKS), cast(value % CHECK_PRIME + 1, Integer), 1)
    parts = [*chars[:4], literal("-"), *chars[4:], check]
    out = cast(parts[0], String)
    for part in parts[1:]:
        out = out.op("||")(part)
    return out
