"""`run_followups`: event windows, absences, delays, else branches, to the second, on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from engine.bootstrap import Adapters, followup_store
from engine.core.followups.rules import FollowupOptions
from engine.core.tracking.events import NewEvent
from engine.db.ledger import SqlLedger
from engine.db.models import Contact, Response, Send
from engine.services.following import FollowupReport, run_followups

from .test_dispatch import EMAIL, NOW, OPEN, launch, people

SENT = OPEN  # when every offer went out (Thursday 10:00 in Shanghai)
FOLLOWUPS = EMAIL.replace(
    "    a: {share: 80%, vars: {discount: 15}}\n",
    "    a: {share: 40%, vars: {discount: 15}}\n"
    "    b: {share: 40%, vars: {discount: 20}, steps: [offer, reminder, nudge]}\n",
) + (
    "  - id: reminder\n"
    "    channel: email\n"
    "    template: winback/reminder\n"
    "    when: {opened: offer, within: 20m}\n"
    "  - id: nudge\n"
    "    channel: sms\n"
    "    template: winback/nudge\n"
    "    when: {not_opened: offer, after: 3d}\n"
    "  - id: later\n"
    "    channel: email\n"
    "    template: winback/reminder\n"
    "    when: {after: offer, delay: 15d}\n"
)


def start(adapters: Adapters, text: str = FOLLOWUPS, n: int = 30) -> list[dict[str, Any]]:
    """`n` customers launched into `text`, every offer sent at SENT; returns the offer sends."""
    people(adapters, n)
    launch(adapters, text, now=NOW)
    adapters.launches.start_due(SENT)
    with adapters.engine.begin() as conn:
        conn.execute(update(Send).values(state="sent", sent_at=SENT))
    return sends(adapters, "offer")


def sends(adapters: Adapters, step: str) -> list[dict[str, Any]]:
    query = select(Send.__table__).where(Send.step == step).order_by(Send.contact_id)
    with adapters.engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def by_contact(adapters: Adapters, step: str) -> dict[int, dict[str, Any]]:
    return {send["contact_id"]: send for send in sends(adapters, step)}


def record(adapters: Adapters, now: datetime, *events: NewEvent) -> int:
    with SqlLedger(adapters.engine).unit() as unit:
        return len(unit.record(list(events), now))


def opened(send: dict[str, Any], at: timedelta, key: str = "", machine: bool = False) -> NewEvent:
    name = key or f"open:{send['id']}:{at.total_seconds()}"
    return NewEvent(name, "test", "opened", SENT + at, send_id=send["id"], machine=machine)


def tick(adapters: Adapters, now: datetime, **options: Any) -> FollowupReport:
    return run_followups(
        followup_store(adapters), adapters.launches, now, FollowupOptions(**options)
    )


def test_an_open_at_19m59s_fires_the_20_minute_follow_up_and_one_at_20m01s_does_not(
    adapters: Adapters,
) -> None:
    offers = start(adapters)
    a, b, c, d = offers[:4]
    at = {
        a["contact_id"]: timedelta(minutes=19, seconds=59),
        b["contact_id"]: timedelta(minutes=20),  # the bound is inclusive
        c["contact_id"]: timedelta(minutes=20, seconds=1),
    }
    events = [opened(s, at[s["contact_id"]]) for s in (a, b, c)]
    events.append(opened(d, timedelta(minutes=5), machine=True))  # Apple MPP: not a person
    record(adapters, SENT + timedelta(minutes=21), *events)
    report = tick(adapters, SENT + timedelta(minutes=21))
    reminders = by_contact(adapters, "reminder")
    assert set(reminders) == {a["contact_id"], b["contact_id"]}
    for contact_id, send in reminders.items():
        assert send["due_at"] == SENT + at[contact_id] and send["state"] == "queued"
        assert send["channel"] == "email" and send["expires_at"] is None
    assert report.fired[("mail-test", "reminder", "event")] == 2
    assert (
        tick(adapters, SENT + timedelta(minutes=22)).fired[("mail-test", "reminder", "event")] == 0
    )


def test_machine_opens_count_only_when_configured(adapters: Adapters) -> None:
    offers = start(adapters)
    record(
        adapters,
        SENT + timedelta(seconds=90),
        opened(offers[0], timedelta(minutes=1), machine=True),
    )
    assert ("mail-test", "reminder", "event") not in tick(
        adapters, SENT + timedelta(minutes=2)
    ).fired
    # a pass that counts machine opens re-reads what is inside the lookback
    later = tick(adapters, SENT + timedelta(minutes=2, seconds=15), count_machine_opens=True)
    assert later.fired[("mail-test", "reminder", "event")] == 1


def test_duplicate_replayed_and_out_of_order_events_fire_once_from_the_first_open(
    adapters: Adapters,
) -> None:
    offers = start(adapters)
    send = offers[0]
    late, early = opened(send, timedelta(minutes=9)), opened(send, timedelta(minutes=3))
    assert record(adapters, SENT + timedelta(minutes=10), late, early, late) == 2
    assert record(adapters, SENT + timedelta(minutes=10), late, early) == 0  # a replay
    for minute in (10, 11, 30, 90):  # and many passes, inside and past the lookback
        tick(adapters, SENT + timedelta(minutes=minute))
    reminders = sends(adapters, "reminder")
    assert len(reminders) == 1 and reminders[0]["due_at"] == SENT + timedelta(minutes=3)


def test_a_late_webhook_for_an_open_inside_the_window_still_fires(adapters: Adapters) -> None:
    offers = start(adapters)
    tick(adapters, SENT + timedelta(minutes=30))  # the window has closed
    # the provider posts an open of minute 10 two hours later
    record(adapters, SENT + timedelta(hours=2), opened(offers[0], timedelta(minutes=10)))
    tick(adapters, SENT + timedelta(hours=2, seconds=15))
    reminder = sends(adapters, "reminder")
    assert [r["due_at"] for r in reminder] == [SENT + timedelta(minutes=10)]


def test_absence_fires_exactly_when_the_wait_ends_and_only_without_the_event(
    adapters: Adapters,
) -> None:
    offers = start(adapters)
    wait = timedelta(days=3)
    before, after = offers[0], offers[1]
    record(
        adapters,
        SENT + timedelta(days=1),
        opened(before, wait - timedelta(seconds=1)),  # at 2d23h59m59s: it happened in time
        opened(after, wait + timedelta(seconds=1)),  # too late to count
    )
    assert not tick(adapters, SENT + wait - timedelta(seconds=1)).fired.get(
        ("mail-test", "nudge", "absence")
    )
    assert sends(adapters, "nudge") == []
    report = tick(adapters, SENT + wait)
    nudges = by_contact(adapters, "nudge")
    treated_ab = {s["contact_id"] for s in offers}
    assert set(nudges) == treated_ab - {before["contact_id"]}
    assert {n["due_at"] for n in nudges.values()} == {SENT + wait}
    assert {n["channel"] for n in nudges.values()} == {"sms"}
    assert report.fired[("mail-test", "nudge", "absence")] == len(nudges)
    assert not tick(adapters, SENT + wait + timedelta(minutes=1)).fired.get(
        ("mail-test", "nudge", "absence")
    )


def test_a_late_webhook_after_the_absence_decision_does_not_undo_it(adapters: Adapters) -> None:
    offers = start(adapters)
    tick(adapters, SENT + timedelta(days=3))
    # an open of day 2 arrives after the nudge was queued: the first decision stands
    record(adapters, SENT + timedelta(days=3, hours=1), opened(offers[0], timedelta(days=2)))
    tick(adapters, SENT + timedelta(days=3, hours=1))
    assert by_contact(adapters, "nudge")[offers[0]["contact_id"]]["state"] == "queued"


def test_fixed_delays_are_queued_once_the_source_is_sent_and_only_for_cells_that_get_them(
    adapters: Adapters,
) -> None:
    offers = start(adapters)
    report = tick(adapters, SENT + timedelta(seconds=15))
    later = by_contact(adapters, "later")
    with adapters.engine.connect() as conn:
        cells = dict(conn.execute(select(Contact.id, Contact.cell_id)).all())
    cell_of = {s["contact_id"]: cells[s["contact_id"]] for s in offers}
    assert later and len(set(cell_of.values())) == 2  # both cells were drawn
    getting = {cid for cid in later}
    assert len({cell_of[cid] for cid in getting}) == 1  # cell b has no `later`
    assert {s["due_at"] for s in later.values()} == {SENT + timedelta(days=15)}
    assert report.fired[("mail-test", "later", "after")] == len(later)


def test_controls_and_unsent_sources_never_get_follow_ups(adapters: Adapters) -> None:
    offers = start(adapters)
    failed = offers[0]
    with adapters.engine.begin() as conn:
        conn.execute(
            update(Send).where(Send.id == failed["id"]).values(state="skipped", sent_at=None)
        )
    record(adapters, SENT, opened(failed, timedelta(minutes=1)))
    for at in (timedelta(minutes=1), timedelta(days=3), timedelta(days=16)):
        tick(adapters, SENT + at)
    with adapters.engine.connect() as conn:
        held_out = set(
            conn.execute(select(Contact.id).where(Contact.status == "held_out")).scalars()
        )
        followed = set(conn.execute(select(Send.contact_id).where(Send.step != "offer")).scalars())
    assert held_out and not held_out & followed
    assert failed["contact_id"] not in followed


def test_responded_counts_a_response_credited_to_the_contact(adapters: Adapters) -> None:
    text = FOLLOWUPS.replace(
        "when: {not_opened: offer, after: 3d}", "when: {not_responded: offer, after: 3d}"
    )
    offers = start(adapters, text)
    row = {
        "source": "shop",
        "source_ref": "o-1",
        "kind": "purchase",
        "customer_id": offers[0]["customer_id"],
        "contact_id": offers[0]["contact_id"],
        "campaign_id": offers[0]["campaign_id"],
        "attribution": "direct",
        "occurred_at": SENT + timedelta(days=1),
        "recorded_at": SENT + timedelta(days=1),
        "detail": {},
    }
    with adapters.engine.begin() as conn:
        conn.execute(Response.__table__.insert(), [row])
    tick(adapters, SENT + timedelta(days=3))
    nudges = by_contact(adapters, "nudge")
    assert nudges and offers[0]["contact_id"] not in nudges
