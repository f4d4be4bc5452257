"""Customer import: one customer per person, provenance kept, rejects explained."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from engine.bootstrap import Adapters

from .conftest import NOW
from .helpers import load_customers, read_rejects, rows, snapshot, write_csv

HEADER = [
    "external_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "city",
    "birth_date",
    "timezone",
    "updated_at",
    "consent_email",
    "loyalty_tier",
]


def test_same_person_in_other_spellings_is_one_customer(adapters: Adapters, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "c.csv",
        HEADER,
        [
            ["C1", "Li", "Wei", "Li.Wei@Example.com", "+86 138 0013 8000", "", "", "", "", "", ""],
            ["C2", "Li", "Wei", "li.wei@example.COM", "", "Shanghai", "", "", "", "", ""],
            ["C3", "Anna", "Berg", "", "138-0013-9000", "", "", "", "", "", ""],
            ["C4", "Anna", "Berg", "", "+8613800139000", "", "1990-02-03", "", "", "", ""],
            ["C5", "Tom", "Ray", "tom@example.org", "", "", "", "", "", "", ""],
            ["C5", "Tom", "Ray", "tom.ray@example.org", "", "Berlin", "", "", "", "", ""],
        ],
    )
    summary = load_customers(adapters, path)
    customers = rows(adapters, "customers")
    assert len(customers) == 3
    assert (summary.counts.inserted, summary.counts.merged) == (3, 3)
    li, anna, tom = customers
    assert (li["email"], li["city"], li["phone"]) == (
        "li.wei@example.com",
        "Shanghai",
        "+8613800138000",
    )
    assert (anna["phone"], anna["birth_date"]) == ("+8613800139000", date(1990, 2, 3))
    assert (tom["email"], tom["city"]) == ("tom.ray@example.org", "Berlin")
    links = {(r["customer_id"], r["source_ref"]) for r in rows(adapters, "customer_sources")}
    assert links == {
        (li["id"], "C1"),
        (li["id"], "C2"),
        (anna["id"], "C3"),
        (anna["id"], "C4"),
        (tom["id"], "C5"),
    }


def test_matching_spans_files_and_batches(adapters: Adapters, tmp_path: Path) -> None:
    first = write_csv(
        tmp_path / "a.csv",
        HEADER,
        [
            ["C1", "Li", "Wei", "li.wei@example.com", "", "", "", "", "", "", ""],
        ],
    )
    second = write_csv(
        tmp_path / "b.csv",
        HEADER,
        [
            ["", "", "", "LI.WEI@EXAMPLE.COM", "13800138000", "", "", "", "", "", ""],
            ["C1", "", "", "", "", "Beijing", "", "", "", "", ""],
        ],
    )
    load_customers(adapters, first)
    summary = load_customers(adapters, second)
    [customer] = rows(adapters, "customers")
    assert (customer["phone"], customer["city"]) == ("+8613800138000", "Beijing")
    assert (summary.counts.inserted, summary.counts.merged) == (0, 2)


def test_bad_rows_are_rejected_with_line_and_reason(adapters: Adapters, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "c.csv",
        HEADER,
        [
            ["C1", "Good", "Row", "good@example.com", "", "", "", "", "", "", ""],
            ["C2", "Bad", "Email", "not-an-email", "", "", "", "", "", "", ""],
            ["C3", "Bad", "Phone", "", "12345", "", "", "", "", "", ""],
            ["C4", "Bad", "Date", "d@example.com", "", "", "1985-13-45", "", "", "", ""],
            ["C5", "Bad", "Zone", "z@example.com", "", "", "", "Mars/Olympus", "", "", ""],
            ["", "No", "Key", "", "", "Paris", "", "", "", "", ""],
            ["C7", "Bad", "Consent", "k@example.com", "", "", "", "", "", "maybe", ""],
            ["C8", "=cmd()", "Formula", "f@example.com", "", "", "", "", "yesterday", "", ""],
        ],
    )
    with path.open("a", encoding="utf-8") as handle:
        handle.write("C9,Too,Many,x@example.com,,,,,,,,extra\n")
    summary = load_customers(adapters, path)
    assert summary.counts.read == 9
    assert (summary.counts.inserted, summary.counts.rejected) == (1, 8)
    rejects = read_rejects(summary.rejects_path)
    reasons = {int(r["line"]): r["reason"] for r in rejects}
    assert reasons[3].startswith("invalid email 'not-an-email'")
    assert reasons[4].startswith("invalid phone '12345'")
    assert reasons[5].startswith("invalid date '1985-13-45'")
    assert reasons[6] == "unknown timezone 'Mars/Olympus'"
    assert reasons[7] == "row has no external_id, email or phone to identify the person"
    assert reasons[8].startswith("invalid consent value 'maybe'")
    assert reasons[9].startswith("invalid timestamp 'yesterday'")
    assert reasons[10] == "12 cells but the header has 11"
    assert next(r for r in rejects if r["line"] == "9")["first_name"] == "'=cmd()"
    assert [r["email"] for r in rows(adapters, "customers")] == ["good@example.com"]
    [batch] = rows(adapters, "import_batches")
    assert (batch["rows_read"], batch["rows_rejected"]) == (9, 8)


def test_internal_data_wins_and_external_fills_blanks(adapters: Adapters, tmp_path: Path) -> None:
    own = write_csv(
        tmp_path / "own.csv",
        HEADER,
        [
            [
                "C1",
                "Li",
                "Wei",
                "li@example.com",
                "",
                "Shanghai",
                "",
                "",
                "2026-01-01T00:00:00Z",
                "",
                "",
            ],
        ],
    )
    bought = write_csv(
        tmp_path / "list.csv",
        HEADER,
        [
            [
                "L9",
                "Lee",
                "Way",
                " LI@example.com ",
                "13800138000",
                "Hangzhou",
                "",
                "",
                "2026-10-01T00:00:00Z",
                "",
                "gold",
            ],
            ["L10", "Ann", "New", "ann@example.com", "", "Wuhan", "", "", "", "", ""],
        ],
    )
    load_customers(adapters, own)
    load_customers(adapters, bought, source="external:listco")
    li, ann = rows(adapters, "customers")
    # The newer external record fills the phone and the custom attribute but
    # does not overwrite the internal name and city.
    assert (li["first_name"], li["city"], li["phone"]) == ("Li", "Shanghai", "+8613800138000")
    assert li["attributes"] == {"loyalty_tier": "gold"}
    assert (li["origin"], li["source_name"], li["trust"], li["external_id"]) == (
        "internal",
        "internal",
        100,
        "C1",
    )
    assert (ann["origin"], ann["source_name"], ann["trust"], ann["external_id"]) == (
        "external",
        "external:listco",
        40,
        None,
    )
    sources = [
        (r["customer_id"], r["source_name"], r["origin"], r["source_ref"], r["trust"])
        for r in rows(adapters, "customer_sources")
    ]
    assert sources == [
        (li["id"], "internal", "internal", "C1", 100),
        (li["id"], "external:listco", "external", "L9", 40),
        (ann["id"], "external:listco", "external", "L10", 40),
    ]
    # Later internal data about the list customer upgrades it and wins.
    upgrade = write_csv(
        tmp_path / "own2.csv",
        HEADER,
        [
            [
                "C2",
                "Anna",
                "Neu",
                "ann@example.com",
                "",
                "",
                "",
                "",
                "2020-01-01T00:00:00Z",
                "",
                "",
            ],
        ],
    )
    load_customers(adapters, upgrade)
    ann = rows(adapters, "customers")[1]
    assert (ann["first_name"], ann["city"], ann["origin"], ann["trust"], ann["external_id"]) == (
        "Anna",
        "Wuhan",
        "internal",
        100,
        "C2",
    )
    assert ann["source_name"] == "external:listco"  # who created it stays on record


def test_newer_record_wins_within_a_source(adapters: Adapters, tmp_path: Path) -> None:
    newer = write_csv(
        tmp_path / "n.csv",
        HEADER,
        [
            [
                "C1",
                "Li",
                "Wei",
                "li@example.com",
                "",
                "Shenzhen",
                "",
                "",
                "2026-06-01T00:00:00Z",
                "",
                "",
            ],
        ],
    )
    older = write_csv(
        tmp_path / "o.csv",
        HEADER,
        [
            [
                "C1",
                "Lee",
                "Wei",
                "li@example.com",
                "",
                "Xian",
                "1980-05-06",
                "",
                "2025-01-01T00:00:00Z",
                "",
                "",
            ],
        ],
    )
    load_customers(adapters, newer)
    load_customers(adapters, older)
    [li] = rows(adapters, "customers")
    assert (li["first_name"], li["city"], li["birth_date"]) == ("Li", "Shenzhen", date(1980, 5, 6))


def test_reimporting_a_file_changes_nothing(adapters: Adapters, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "c.csv",
        HEADER,
        [
            [
                "C1",
                "Li",
                "Wei",
                "li@example.com",
                "+86 138 0013 8000",
                "",
                "",
                "",
                "",
                "yes",
                "gold",
            ],
            ["C2", "Li", "Wei", "LI@example.com", "", "Beijing", "", "", "", "no", ""],
            [
                "C3",
                "Bo",
                "Zhang",
                "bo@example.com",
                "",
                "",
                "",
                "Asia/Shanghai",
                "2026-01-01T08:00:00+08:00",
                "",
                "",
            ],
            ["C4", "Bad", "Row", "nope", "", "", "", "", "", "", ""],
        ],
    )
    load_customers(adapters, path)
    before = snapshot(adapters)
    again = load_customers(adapters, path, now=NOW + timedelta(days=3))
    after = snapshot(adapters)
    assert len(after.pop("import_batches")) == 2
    before.pop("import_batches")
    assert after == before
    assert (again.counts.inserted, again.counts.merged, again.counts.unchanged) == (0, 0, 3)
    assert again.counts.rejected == 1


def test_consent_ledger_appends_changes_only(adapters: Adapters, tmp_path: Path) -> None:
    first = write_csv(
        tmp_path / "a.csv",
        HEADER,
        [
            ["C1", "Li", "Wei", "li@example.com", "", "", "", "", "", "yes", ""],
        ],
    )
    second = write_csv(
        tmp_path / "b.csv",
        HEADER,
        [
            ["C1", "Li", "Wei", "li@example.com", "", "", "", "", "", "yes", ""],
            ["C1", "Li", "Wei", "li@example.com", "", "", "", "", "", "no", ""],
        ],
    )
    load_customers(adapters, first)
    load_customers(adapters, second)
    ledger = [(r["channel"], r["status"], r["source"]) for r in rows(adapters, "consents")]
    assert ledger == [("email", "granted", "internal"), ("email", "withdrawn", "internal")]
    assert "line 3" in rows(adapters, "consents")[1]["evidence"]


def test_timezone_is_inferred_from_an_unambiguous_phone(adapters: Adapters, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "c.csv",
        ["email", "phone", "timezone"],
        [
            ["a@example.com", "+49 30 1234567", ""],
            ["b@example.com", "+49 30 7654321", "Europe/Paris"],
            ["c@example.com", "+1 415 555 0100", ""],
        ],
    )
    load_customers(adapters, path)
    zones = [r["timezone"] for r in rows(adapters, "customers")]
    assert zones == ["Europe/Berlin", "Europe/Paris", "America/Los_Angeles"]
