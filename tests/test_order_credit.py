"""Orders no contact can claim are credited ``none`` set-based, exactly as the Python path would."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select

from engine.bootstrap import Adapters
from engine.db.attribution import SqlResponseUnits
from engine.db.models import Consent, Customer, Order, Response
from engine.errors import InputFileError

from .conftest import NOW
from .helpers import load_customers, load_orders, write_csv
from .test_attribution import credit, launch, purchase
from .test_dispatch import EMAIL
from .test_launch import table

LATER = datetime(2026, 11, 20, tzinfo=UTC)


def _people(adapters: Adapters, tmp_path: Path, name: str, refs: list[str]) -> None:
    people = write_csv(
        tmp_path / f"{name}.csv",
        ["external_id", "email", "country", "timezone"],
        [[ref, f"{ref}@example.com", "CN", "Asia/Shanghai"] for ref in refs],
    )
    load_customers(adapters, people, source="internal:shop")


def _without_id(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key != "id"}


def test_uncontacted_orders_get_the_rows_the_python_path_writes(
    adapters: Adapters, tmp_path: Path
) -> None:
    _people(adapters, tmp_path, "launched", [f"k{i}" for i in range(6)])
    with adapters.engine.begin() as conn:
        ids = list(conn.execute(select(Customer.id)).scalars())
        row = {"channel": "email", "status": "granted", "source": "t", "evidence": "f"}
        conn.execute(insert(Consent), [{"customer_id": i, "recorded_at": NOW, **row} for i in ids])
    launch(adapters, EMAIL)
    _people(adapters, tmp_path, "later", ["n0", "n1", "n2"])  # no contacts: joined after launch
    refs = [f"k{i}" for i in range(6)] + ["n0", "n1", "n2"]
    orders = write_csv(
        tmp_path / "orders.csv",
        ["order_id", "customer_id", "ordered_at", "amount", "currency"],
        [[f"o-{ref}", ref, "2026-11-06T08:00:00+08:00", "12.34", "USD"] for ref in refs],
    )
    load_orders(adapters, orders, source="shop", now=LATER, customer_source="internal:shop")
    responses = {r["source_ref"]: r for r in table(adapters, Response)}
    assert len(responses) == len(refs)
    assert {responses[f"o-n{i}"]["attribution"] for i in range(3)} == {"none"}
    assert {responses[f"o-k{i}"]["attribution"] for i in range(6)} == {"inferred"}

    # The same orders through the Python path give the same rows.
    set_based = {ref: _without_id(responses[f"o-{ref}"]) for ref in ("n0", "n1", "n2")}
    with adapters.engine.begin() as conn:
        conn.execute(delete(Response).where(Response.source_ref.like("o-n%")))
        stored = conn.execute(
            select(Order.external_order_id, Order.customer_id, Order.ordered_at,
                   Order.base_amount_cents).where(Order.external_order_id.like("o-n%"))
        ).all()  # fmt: skip
    items = [purchase(ref, cid, at, value_cents=cents) for ref, cid, at, cents in stored]
    assert credit(adapters, items) == {"none": 3}
    python = {r["source_ref"][2:]: _without_id(r) for r in table(adapters, Response)}
    for ref, row in set_based.items():
        assert row == python[ref] | {"recorded_at": row["recorded_at"]}
        assert row["recorded_at"] == LATER and row["value_cents"] > 0
    # An order of a contacted customer without its response is left to the Python pass.
    with adapters.engine.begin() as conn:
        conn.execute(delete(Response).where(Response.source_ref == "o-k0"))
    with SqlResponseUnits(adapters.engine).unit() as history:
        assert history.credit_uncontacted("shop", None, LATER) == (0, True)


def test_the_python_pass_runs_only_for_orders_of_contacted_customers(
    adapters: Adapters, tmp_path: Path
) -> None:
    _people(adapters, tmp_path, "people", ["a", "b"])
    orders = write_csv(
        tmp_path / "orders.csv",
        ["order_id", "customer_id", "ordered_at", "amount"],
        [["o1", "a", "2026-10-06T08:00:00Z", "5"], ["o2", "b", "2026-10-07T08:00:00Z", "6"]],
    )
    load_orders(adapters, orders, source="shop", now=LATER, customer_source="internal:shop")
    units = SqlResponseUnits(adapters.engine)
    with units.unit() as history:
        assert history.credit_uncontacted("shop", None, LATER) == (0, False)  # all done
    with adapters.engine.begin() as conn:
        conn.execute(delete(Response))
    with units.unit() as history:
        assert history.credit_uncontacted("shop", None, LATER) == (2, False)
        assert history.credit_uncontacted("shop", None, LATER) == (0, False)  # idempotent
    assert {r["attribution"] for r in table(adapters, Response)} == {"none"}


def test_before_any_contact_each_batch_writes_its_orders_responses(
    adapters: Adapters, tmp_path: Path
) -> None:
    refs = [f"c{i}" for i in range(3)]
    _people(adapters, tmp_path, "people", refs)
    object.__setattr__(adapters.settings.imports, "batch_size", 100)
    good = [[f"o{i}", refs[i % 3], "2026-10-06T08:00:00Z", f"{i}.50"] for i in range(300)]
    path = write_csv(
        tmp_path / "orders.csv", ["order_id", "customer_id", "ordered_at", "amount"], good
    )
    with path.open("a") as handle:  # a cell past the csv module's limit: the import stops
        handle.write(f"o999,c0,2026-10-06T08:00:00Z,{'9' * 200_000}\n")
    with pytest.raises(InputFileError, match="cannot read CSV: field larger"):
        load_orders(adapters, path, source="shop", now=LATER, customer_source="internal:shop")
    # The batches before it committed with their responses, though the import never finished.
    batch = {r["source_ref"]: _without_id(r) for r in table(adapters, Response)}
    assert len(table(adapters, Order)) == len(batch) >= 100
    assert {r["attribution"] for r in batch.values()} == {"none"}
    # The rows are those the set-based pass after an import writes.
    with adapters.engine.begin() as conn:
        conn.execute(delete(Response))
    with SqlResponseUnits(adapters.engine).unit() as history:
        assert history.credit_uncontacted("shop", None, LATER) == (len(batch), False)
    assert {r["source_ref"]: _without_id(r) for r in table(adapters, Response)} == batch
