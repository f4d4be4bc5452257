"""`launch_campaign`: contacts, cells, codes and first sends, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, insert, select, update

from engine.bootstrap import Adapters
from engine.cli import cli
from engine.core.campaign.assign import Hasher, Split, groups_salt
from engine.core.campaign.eligibility import Holdout, Policy
from engine.core.codes import CodeBook
from engine.db.connect import make_engine
from engine.db.models import Cell, Contact, Customer, CustomerMetrics, Send
from engine.services.launching import (
    CampaignChanged,
    change_status,
    launch_campaign,
    run_entries,
)
from engine.services.validation import validate_campaign

from .conftest import NOW
from .people import seed

ROOT = Path(__file__).resolve().parents[1]

CODES = CodeBook.from_secret("test-codes")
CALL = """\
key: call-test
name: Call test
audience:
  segment:
    all:
      - origin: internal
groups:
  control: 10%
  cells:
    a: {share: 45%, vars: {discount: 10}}
    b: {share: 45%, vars: {discount: 20}}
schedule:
  start: 2026-11-04 09:00
  timezone: Asia/Shanghai
  windows: {days: [wed, thu], hours: "10:00-16:00"}
steps:
  - id: call
    channel: call
    template: winback/script
  - id: again
    channel: call
    template: winback/script
    when: {not_responded: call, after: 7d}
"""


def policy(holdout: float = 0.0) -> Policy:
    return Policy(
        timezone="Asia/Shanghai",
        consent={"email": "opt_in", "sms": "opt_in", "mail": "opt_out", "call": "opt_out"},
        caps={},
        holdout=Holdout(holdout, "h"),
        currency="CNY",
    )


def customers(adapters: Adapters, n: int, **fields: Any) -> list[int]:
    """`n` own customers with a phone (calls are opt-out: no consent rows needed)."""
    zones = ["Asia/Shanghai", "Europe/Berlin", "America/New_York", None]
    rows = [
        _customer(f"x{i}", phone=f"+86138{i:08d}", timezone=zones[i % 4], **fields)
        for i in range(n)
    ]
    with adapters.engine.begin() as conn:
        conn.execute(insert(Customer), rows)
        return list(conn.execute(select(Customer.id).order_by(Customer.id)).scalars())


def launch(adapters: Adapters, text: str = CALL, now: datetime = NOW, holdout: float = 0.0):  # type: ignore[no-untyped-def]
    checked = validate_campaign(text, "c.yaml", adapters.renderer)
    return launch_campaign(checked, text, policy(holdout), adapters.launches, CODES, now)


def table(adapters: Adapters, model: type) -> list[dict[str, Any]]:
    with adapters.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(model.__table__)).mappings()]


def test_every_customer_gets_the_cell_the_hash_gives_and_a_code_for_its_contact(
    adapters: Adapters,
) -> None:
    ids = customers(adapters, 3000)
    report = launch(adapters)
    assert report.created and report.entered == 3000
    spec = validate_campaign(CALL, "c.yaml", adapters.renderer).spec
    split, hasher = Split.of(spec), Hasher.for_campaign("call-test", groups_salt(spec))
    with adapters.engine.connect() as conn:
        code_of = dict(conn.execute(select(Cell.id, Cell.code)).all())
    contacts = table(adapters, Contact)
    assert sorted(c["customer_id"] for c in contacts) == ids
    for contact in contacts:
        expected = split.cell(hasher.bucket(contact["customer_id"]))
        assert code_of[contact["cell_id"]] == expected
        assert contact["status"] == ("held_out" if expected == "control" else "treated")
        assert contact["response_code"] == CODES.code(contact["id"])
        assert CODES.contact_id(contact["response_code"]) == contact["id"]
    assert len({c["response_code"] for c in contacts}) == len(contacts)
    sizes = Counter(code_of[c["cell_id"]] for c in contacts)
    assert [(code, n) for code, _, _, n in report.counts.cells] == [
        (code, sizes[code]) for code in ("control", "a", "b")
    ]
    assert report.sample_ratio is not None and not report.sample_ratio.mismatch


def test_controls_get_contacts_and_no_sends_and_sends_are_due_in_local_windows(
    adapters: Adapters,
) -> None:
    customers(adapters, 400)
    launch(adapters)
    contacts = {c["id"]: c for c in table(adapters, Contact)}
    sends = table(adapters, Send)
    treated = [c for c in contacts.values() if c["status"] == "treated"]
    assert sorted(s["contact_id"] for s in sends) == sorted(c["id"] for c in treated)
    assert {s["step"] for s in sends} == {"call"}  # the follow-up waits for its trigger
    assert all(s["state"] == "queued" for s in sends)
    with adapters.engine.connect() as conn:
        zone_of = dict(conn.execute(select(Customer.id, Customer.timezone)).all())
    due = {zone_of[s["customer_id"]]: s["due_at"] for s in sends}
    # start Wed 4 Nov 09:00 Shanghai; windows Wed/Thu 10:00-16:00 local time
    assert due["Asia/Shanghai"] == datetime(2026, 11, 4, 2, 0, tzinfo=UTC)
    assert due[None] == datetime(2026, 11, 4, 2, 0, tzinfo=UTC)  # campaign zone fallback
    # 09:00 Shanghai is 02:00 Berlin on Wednesday: its window opens at 10:00 CET
    assert due["Europe/Berlin"] == datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
    # 09:00 Shanghai is 20:00 Tuesday in New York: Wednesday 10:00 EST
    assert due["America/New_York"] == datetime(2026, 11, 4, 15, 0, tzinfo=UTC)


def test_exclusions_and_the_global_holdout_come_before_the_split(adapters: Adapters) -> None:
    ids = customers(adapters, 1000)
    with adapters.engine.begin() as conn:
        conn.execute(update(Customer).where(Customer.id.in_(ids[:50])).values(phone=None))
    report = launch(adapters, holdout=0.2)
    excluded = dict(report.counts.excluded)
    held = sum(Holdout(0.2, "h").contains(i) for i in ids[50:])
    assert excluded == {"unreachable_call": 50, "global_holdout": held}
    contacts = table(adapters, Contact)
    suppressed = [c for c in contacts if c["status"] == "suppressed"]
    assert len(suppressed) == 50 + held and all(c["cell_id"] is None for c in suppressed)
    assigned = sum(size for *_, size in report.counts.cells)
    assert assigned == 1000 - 50 - held


def test_launching_again_adds_nothing_and_a_changed_split_or_audience_is_refused(
    adapters: Adapters,
) -> None:
    customers(adapters, 200)
    launch(adapters)
    before = (table(adapters, Contact), table(adapters, Send))
    again = launch(adapters, now=NOW + timedelta(hours=1))
    assert not again.created and again.entered == 0
    assert (table(adapters, Contact), table(adapters, Send)) == before
    with pytest.raises(CampaignChanged, match=r"cells or shares.*new key"):
        launch(
            adapters,
            CALL.replace("control: 10%", "control: 20%").replace(
                "a: {share: 45%", "a: {share: 35%"
            ),
        )
    with pytest.raises(CampaignChanged, match="audience"):
        launch(adapters, CALL.replace("origin: internal", "origin: external"))
    edited = launch(adapters, CALL.replace("name: Call test", "name: Call test, new title"))
    assert "stored file was updated" in edited.notes[0]
    assert (table(adapters, Contact), table(adapters, Send)) == before


def test_stratified_splits_are_balanced_within_every_stratum(adapters: Adapters) -> None:
    ids = customers(adapters, 997)
    stages = ["new", "active", "at_risk", "lapsed", "lost"]
    with adapters.engine.begin() as conn:
        conn.execute(
            insert(CustomerMetrics),
            [
                {
                    "customer_id": i,
                    "as_of": NOW,
                    "frequency": 1,
                    "monetary_cents": 1,
                    "lifecycle": stages[i % 5 if i % 7 else 0],
                }
                for i in ids
            ],
        )
    text = CALL.replace("groups:\n", "groups:\n  stratify_by: lifecycle\n")
    launch(adapters, text)
    with adapters.engine.connect() as conn:
        rows = conn.execute(
            select(CustomerMetrics.lifecycle, Cell.code, func.count())
            .join(Contact, Contact.customer_id == CustomerMetrics.customer_id)
            .join(Cell, Cell.id == Contact.cell_id)
            .group_by(CustomerMetrics.lifecycle, Cell.code)
        ).all()
    per: dict[str, dict[str, int]] = {}
    for stage, code, n in rows:
        per.setdefault(stage, {})[code] = n
    for stage, cells in per.items():
        total = sum(cells.values())
        for code, share in (("control", 0.1), ("a", 0.45), ("b", 0.45)):
            assert abs(cells.get(code, 0) - share * total) <= 1, (stage, cells)


TRIGGER = (
    CALL.replace("key: call-test", "key: trigger-test").replace(
        "  start: 2026-11-04 09:00\n", "  start: 2026-11-01 09:00\n"
    )
    + 'entry: {every: 1d, at: "09:00", reenter_after: 30d}\n'
)


def test_trigger_campaigns_enter_new_matches_once_and_again_after_the_wait(
    adapters: Adapters,
) -> None:
    first = customers(adapters, 10)
    start = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    report = launch(adapters, TRIGGER, now=start)
    assert report.entered == 10
    store, pol = adapters.launches, policy()
    assert run_entries(store, pol, CODES, start + timedelta(hours=5)) == []  # same day's slot
    with adapters.engine.begin() as conn:
        conn.execute(insert(Customer), [{**_customer(f"late{i}")} for i in range(3)])
    day2 = start + timedelta(days=1)
    (run,) = run_entries(store, pol, CODES, day2)
    assert run.entered == 3  # only the new customers; the first ten already entered
    assert run_entries(store, pol, CODES, day2 + timedelta(hours=1)) == []
    (later,) = run_entries(store, pol, CODES, start + timedelta(days=30, hours=12))
    assert later.entered == 10  # the first ten again: 30 days have passed since their entry
    contacts = table(adapters, Contact)
    entries = Counter(c["customer_id"] for c in contacts)
    assert [entries[i] for i in first] == [2] * 10
    assert {c["entry"] for c in contacts if c["customer_id"] == first[0]} == {1, 2}
    assert all(c["status"] != "suppressed" for c in contacts)
    change_status(store, "trigger-test", "paused", "holiday", start + timedelta(days=40))
    assert run_entries(store, pol, CODES, start + timedelta(days=70)) == []


def _customer(ref: str, **fields: Any) -> dict[str, Any]:
    """An own customer with a phone, as the customer table wants it."""
    return {
        "external_id": ref,
        "phone": "+8613900000000",
        "origin": "internal",
        "source_name": "shop",
        "trust": 100,
        "data_as_of": NOW,
        "created_at": NOW,
        "updated_at": NOW,
        "attributes": {},
        **fields,
    }


def test_pause_resume_and_cancel(adapters: Adapters) -> None:
    customers(adapters, 50)
    launch(adapters, now=datetime(2026, 11, 5, tzinfo=UTC))  # after the start: running
    store = adapters.launches
    assert change_status(store, "call-test", "paused", "wrong offer", NOW) == "running"
    with pytest.raises(Exception, match="paused; it cannot become paused"):
        change_status(store, "call-test", "paused", "again", NOW)
    change_status(store, "call-test", "running", None, NOW)
    change_status(store, "call-test", "cancelled", "budget", NOW)
    assert {s["state"] for s in table(adapters, Send)} == {"cancelled"}
    assert len(table(adapters, Contact)) == 50  # history stays
    with pytest.raises(Exception, match="cancelled; it cannot become running"):
        change_status(store, "call-test", "running", None, NOW)
    with pytest.raises(Exception, match="no launched campaign"):
        change_status(store, "nope", "paused", "x", NOW)


def test_launch_status_pause_resume_cancel_and_enter_commands(database_url: str) -> None:
    runner = CliRunner()
    env = {"ENGINE_DATABASE_URL": database_url, "ENGINE_CONFIG": ""}

    def run(*args: str) -> str:
        result = runner.invoke(cli, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result.output

    engine = make_engine(database_url)
    seed(engine)
    engine.dispose()
    winback = str(ROOT / "campaigns" / "winback.yaml")
    out = run("launch", winback, "--at", "2026-11-20 08:00:00")
    assert "launched winback-2026-12" in out and "sample-ratio check" in out
    assert "unchanged: winback-2026-12" in run("launch", winback)
    assert "winback-2026-12" in run("status") and "scheduled" in run("status", "winback-2026-12")
    assert "scheduled -> paused" in run("pause", "winback-2026-12", "--reason", "typo in subject")
    assert "reason: typo in subject" in run("status", "winback-2026-12")
    assert "paused -> running" in run("resume", "winback-2026-12")
    assert "running -> cancelled" in run("cancel", "winback-2026-12", "--reason", "budget cut")
    result = runner.invoke(cli, ["pause", "winback-2026-12", "--reason", "x"], env=env)
    assert result.exit_code == 1 and "cannot become paused" in result.output
    assert "no trigger campaign is due" in run("enter")
    birthday = str(ROOT / "campaigns" / "birthday-greeting.yaml")
    # 4 November: ann's birthday (5 November) is tomorrow, so nobody enters yet
    out = run("launch", birthday, "--at", "2026-11-04 00:00:00")
    assert "launched birthday-greeting: 0 contacts" in out
    out = run("enter", "--at", "2026-11-04 23:30:00")  # 07:30 on 5 November in Shanghai
    assert "entry run for birthday-greeting: 1 contacts written" in out
    assert "no trigger campaign is due" in run("enter", "--at", "2026-11-05 01:00:00")
