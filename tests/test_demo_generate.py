"""The demo data generator: deterministic, streaming, and shaped for merge, rejects and lifecycle."""

from __future__ import annotations

import itertools
import time
import tracemalloc
import types
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import phonenumbers
import pytest

from engine.demo.generate import (
    CUSTOMER_COLUMNS,
    ORDER_COLUMNS,
    DemoShape,
    external_prospects,
    internal_customers,
    orders,
)

NOW = datetime(2026, 3, 4, 10, 11, 12, tzinfo=UTC)
SMALL = DemoShape(customers=2_000, prospects=400)
BAD_CUSTOMER = {
    "email": "not-an-email",
    "phone": "12345",
    "birth_date": "1985-13-45",
    "timezone": "Mars/Olympus",
    "updated_at": "yesterday",
}
BAD_ORDER = {
    "amount": "abc",
    "ordered_at": "2025-02-30T10:00:00Z",
    "customer_id": "C9999999X",
    "quantity": "0",
}
ZONES = {
    "CN": {"Asia/Shanghai"},
    "US": {"America/Los_Angeles", "America/New_York"},
    "DE": {"Europe/Berlin"},
    "GB": {"Europe/London"},
    "ES": {"Europe/Madrid"},
}
EXAMPLE_DOMAINS = {"example.com", "example.org", "example.net", "mail.example.com"}
STAGES = ((180, "active"), (365, "at_risk"), (730, "lapsed"))
GENERATORS = (internal_customers, external_prospects, orders)


def is_bad(row: dict[str, str], kinds: dict[str, str]) -> bool:
    return any(row[field] == value for field, value in kinds.items())


def e164(number: str) -> str:
    return phonenumbers.format_number(
        phonenumbers.parse(number, "CN"), phonenumbers.PhoneNumberFormat.E164
    )


def stage(days: int) -> str:
    """The lifecycle stage of a buyer by days since the last order (the engine's defaults)."""
    return next((name for limit, name in STAGES if days <= limit), "lost")


def good_customers(shape: DemoShape = SMALL) -> list[dict[str, str]]:
    return [row for row in internal_customers(shape, NOW) if not is_bad(row, BAD_CUSTOMER)]


def test_the_functions_stream_in_constant_memory() -> None:
    huge = DemoShape(customers=7_000_000, prospects=1_000_000)
    for generate in GENERATORS:
        rows = generate(huge, NOW)
        assert isinstance(rows, types.GeneratorType)
        started = time.perf_counter()
        assert len(list(itertools.islice(rows, 100))) == 100
        assert time.perf_counter() - started < 1.0  # nothing is built up front
    tracemalloc.start()
    try:
        for generate in (internal_customers, orders):
            for _ in itertools.islice(generate(huge, NOW), 50_000):
                pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 15_000_000  # 50,000 rows held at once would take several times this


def test_same_input_same_rows_and_another_seed_other_rows() -> None:
    shape = DemoShape(customers=1_000, prospects=300)
    for generate in GENERATORS:
        first = list(generate(shape, NOW))
        assert first == list(generate(shape, NOW))
        assert first != list(generate(DemoShape(customers=1_000, prospects=300, seed=7), NOW))


def test_rows_have_exactly_the_columns_and_only_strings() -> None:
    for generate, columns in zip(
        GENERATORS, (CUSTOMER_COLUMNS,) * 2 + (ORDER_COLUMNS,), strict=True
    ):
        for row in generate(SMALL, NOW):
            assert tuple(row) == columns
            assert all(isinstance(value, str) for value in row.values())


def test_naive_now_is_refused() -> None:
    for generate in GENERATORS:
        with pytest.raises(ValueError, match="timezone-aware"):
            generate(SMALL, datetime(2026, 3, 4, 10, 0))


def test_about_three_orders_per_customer_all_resolving_to_a_customer() -> None:
    known = {row["external_id"] for row in good_customers()}
    good = [row for row in orders(SMALL, NOW) if not is_bad(row, BAD_ORDER)]
    assert 2.5 <= len(good) / SMALL.customers <= 3.5
    assert all(row["customer_id"] in known for row in good)
    assert any(row["customer_id"].startswith("C9") for row in good)  # a second record bought
    ids = [row["order_id"] for row in orders(SMALL, NOW)]
    assert len(ids) == len(set(ids))
    for row in good:
        assert row["ordered_at"] < NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert 5 <= float(row["amount"]) <= 2000 and row["amount"].count(".") == 1
        assert len(row["amount"].split(".")[1]) == 2 and 1 <= int(row["quantity"]) <= 5
        assert row["currency"] in {"CNY", "USD"}


def test_lifecycle_stages_all_occur() -> None:
    last: dict[str, str] = {}
    for row in orders(SMALL, NOW):
        if not is_bad(row, BAD_ORDER):
            last[row["customer_id"]] = max(last.get(row["customer_id"], ""), row["ordered_at"])
    buyers = [c for c in last if not c.startswith("C9")]
    assert 0.82 <= len(buyers) / SMALL.customers <= 0.94  # ~12 % never ordered
    stages = Counter(stage((NOW - datetime.fromisoformat(t)).days) for t in last.values())
    assert set(stages) == {"active", "at_risk", "lapsed", "lost"}
    assert min(stages.values()) > 50


def test_second_records_are_the_same_person_spelt_otherwise() -> None:
    rows = good_customers()
    originals = [row for row in rows if not row["external_id"].startswith("C9")]
    by_email = {row["email"].lower(): row for row in originals}
    by_phone = {e164(row["phone"]): row for row in originals}
    seconds = [row for row in rows if row["external_id"].startswith("C9")]
    assert 0.01 * len(originals) <= len(seconds) <= 0.03 * len(originals)
    position = {row["external_id"]: index for index, row in enumerate(rows)}
    for second in seconds:
        original = by_email.get(second["email"].lower()) or by_phone[e164(second["phone"])]
        assert position[original["external_id"]] < position[second["external_id"]]
        assert second["email"] != original["email"] or second["phone"] != original["phone"]
        assert e164(second["phone"]) == e164(original["phone"])
        if second["email"]:
            assert second["email"].lower() == original["email"]
        for column in set(CUSTOMER_COLUMNS) - {"external_id", "email", "phone", "updated_at"}:
            assert second[column] == original[column] or not original[column], column
    assert any(not second["email"] for second in seconds)
    assert any(second["email"] and second["email"] != second["email"].lower() for second in seconds)


def test_bad_rows_at_the_given_share_under_fresh_ids() -> None:
    shape = DemoShape(customers=20_000, prospects=20_000)
    for generate, kinds in (
        (internal_customers, BAD_CUSTOMER),
        (external_prospects, BAD_CUSTOMER),
        (orders, BAD_ORDER),
    ):
        rows = list(generate(shape, NOW))
        bad = [row for row in rows if is_bad(row, kinds)]
        assert 0.5 * shape.bad_row_share <= len(bad) / len(rows) <= 1.6 * shape.bad_row_share
        assert all(sum(row[f] == v for f, v in kinds.items()) == 1 for row in bad)
        assert {f for row in bad for f, v in kinds.items() if row[f] == v} == set(kinds)
    customers = list(internal_customers(shape, NOW))
    good_ids = {row["external_id"] for row in customers if not is_bad(row, BAD_CUSTOMER)}
    bad_ids = {row["external_id"] for row in customers if is_bad(row, BAD_CUSTOMER)}
    assert not good_ids & bad_ids


def test_good_contacts_are_valid_and_consistent() -> None:
    for row in good_customers()[:2_000]:
        number = phonenumbers.parse(row["phone"], "CN")
        assert phonenumbers.is_valid_number(number), row["phone"]
        assert phonenumbers.region_code_for_number(number) == row["country"]
        email = row["email"]
        assert email or row["external_id"].startswith("C9")  # only second records go without
        if email:
            assert email.count("@") == 1 and email.isascii()
            assert email.split("@")[1].lower() in EXAMPLE_DOMAINS
        assert row["timezone"] in ZONES[row["country"]] | {""}
        if row["birth_date"]:
            age = (NOW.date() - date.fromisoformat(row["birth_date"])).days / 365.25
            assert 18 <= age < 86
        updated = datetime.fromisoformat(row["updated_at"])
        assert NOW - timedelta(days=3 * 366) < updated < NOW
    assert not phonenumbers.is_valid_number(phonenumbers.parse("12345", "CN"))


def test_the_bought_list_overlaps_own_customers_by_email() -> None:
    emails = {row["email"] for row in good_customers()}
    prospects = [row for row in external_prospects(SMALL, NOW) if not is_bad(row, BAD_CUSTOMER)]
    known = [row for row in prospects if row["email"].strip().lower() in emails]
    assert 0.12 <= len(known) / len(prospects) <= 0.28
    assert all(row["email"] not in emails for row in known)  # always spelt differently
    assert all(row["external_id"].startswith("L") and not row["consent_email"] for row in prospects)
    assert all(row["email"].count("@") == 1 for row in prospects)
    assert all(
        phonenumbers.is_valid_number(phonenumbers.parse(row["phone"], "CN"))
        for row in prospects
        if row["phone"]
    )
