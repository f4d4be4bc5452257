"""Follow-ups meet the dispatcher: else branches, expiry, STOP races, DST, after_entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import insert, select, update

from engine.bootstrap import Adapters
from engine.cli import cli
from engine.db.models import Consent, Contact, Customer, Send
from engine.db.optouts import set_consent
from engine.db.outbox import OutboxChannel

from .fakes import FakeClock
from .test_dispatch import EMAIL, NOW, dispatch, launch, people
from .test_followups import SENT, by_contact, opened, record, start, tick

STEPS = (
    "  - id: reminder\n"
    "    channel: email\n"
    "    template: winback/reminder\n"
    "    when: {opened: offer, within: 3d}\n"
)
ELSE = (
    EMAIL
    + STEPS
    + ("    else: nudge\n  - id: nudge\n    channel: sms\n    template: winback/nudge\n")
)
EXPIRING = EMAIL + STEPS + "    expire_after: 20m\n"


def test_else_is_queued_when_the_window_closes_without_the_event(adapters: Adapters) -> None:
    offers = start(adapters, ELSE)
    keen, tardy = offers[0], offers[1]
    record(adapters, SENT + timedelta(days=2), opened(keen, timedelta(days=2)))
    tick(adapters, SENT + timedelta(days=2))
    assert set(by_contact(adapters, "reminder")) == {keen["contact_id"]}
    tick(adapters, SENT + timedelta(days=3) - timedelta(seconds=1))
    assert by_contact(adapters, "nudge") == {}  # the window is still open
    report = tick(adapters, SENT + timedelta(days=3))
    nudges = by_contact(adapters, "nudge")
    assert set(nudges) == {s["contact_id"] for s in offers} - {keen["contact_id"]}
    assert {n["due_at"] for n in nudges.values()} == {SENT + timedelta(days=3)}
    assert report.fired[("mail-test", "nudge", "else")] == len(nudges)
    # an open inside the window posted after the else was queued: one branch only
    record(adapters, SENT + timedelta(days=3, hours=1), opened(tardy, timedelta(days=1)))
    tick(adapters, SENT + timedelta(days=3, hours=1))
    assert set(by_contact(adapters, "reminder")) == {keen["contact_id"]}


def test_a_follow_up_queued_after_its_expiry_is_skipped_at_once(adapters: Adapters) -> None:
    offers = start(adapters, EXPIRING)
    record(adapters, SENT + timedelta(hours=2), opened(offers[0], timedelta(minutes=10)))
    report = tick(adapters, SENT + timedelta(hours=2))
    reminder = by_contact(adapters, "reminder")[offers[0]["contact_id"]]
    assert reminder["state"] == "skipped" and reminder["last_error"] == "expired"
    assert reminder["expires_at"] == SENT + timedelta(minutes=30)
    assert report.skipped[("mail-test", "reminder", "expired")] == 1 and not report.fired


def test_the_dispatcher_skips_expired_follow_ups_and_those_the_window_would_delay_past_expiry(
    adapters: Adapters,
) -> None:
    offers = start(adapters, EXPIRING)
    late, fresh, evening = offers[0], offers[1], offers[2]
    record(adapters, SENT + timedelta(minutes=2), opened(late, timedelta(minutes=1)))
    tick(adapters, SENT + timedelta(minutes=2))  # queued, expiring at 10:21, not dispatched
    record(
        adapters,
        SENT + timedelta(hours=9, minutes=50),
        opened(fresh, timedelta(hours=9, minutes=50)),
    )
    tick(adapters, SENT + timedelta(hours=9, minutes=50))
    clock = FakeClock(SENT + timedelta(hours=9, minutes=52))  # 19:52 in Shanghai
    report = dispatch(adapters, clock, OutboxChannel(adapters.engine, "email", clock))
    assert report.skipped == {"expired": 1} and report.states == {("email", "sent"): 1}
    # an open at 19:56 posted at 20:05: due at once, expiring at 20:16, but the
    # window (09:00-20:00) opens again only tomorrow
    at = SENT + timedelta(hours=10, minutes=5)
    record(adapters, at, opened(evening, timedelta(hours=9, minutes=56)))
    tick(adapters, at)
    clock.now = at
    report = dispatch(adapters, clock, OutboxChannel(adapters.engine, "email", clock))
    assert report.skipped == {"expired_before_window": 1} and report.deferred == 0
    reminders = by_contact(adapters, "reminder")
    assert reminders[late["contact_id"]]["last_error"] == "expired"
    assert reminders[evening["contact_id"]]["last_error"] == "expired_before_window"
    assert reminders[fresh["contact_id"]]["state"] == "sent"


def test_a_stop_after_the_follow_up_was_queued_wins_at_send_time(adapters: Adapters) -> None:
    offers = start(adapters, EXPIRING.replace("    expire_after: 20m\n", ""))
    record(adapters, SENT + timedelta(minutes=2), opened(offers[0], timedelta(minutes=1)))
    tick(adapters, SENT + timedelta(minutes=2))
    assert by_contact(adapters, "reminder")[offers[0]["contact_id"]]["state"] == "queued"
    with adapters.engine.begin() as conn:
        set_consent(
            conn,
            offers[0]["customer_id"],
            "email",
            "withdrawn",
            "sendgrid",
            "unsubscribe",
            SENT + timedelta(minutes=3),
        )
    clock = FakeClock(SENT + timedelta(minutes=4))
    report = dispatch(adapters, clock, OutboxChannel(adapters.engine, "email", clock))
    assert report.skipped == {"no_consent_email": 1}
    reminder = by_contact(adapters, "reminder")[offers[0]["contact_id"]]
    assert reminder["state"] == "skipped" and reminder["last_error"] == "no_consent_email"


def test_a_daylight_saving_change_between_send_and_follow_up(adapters: Adapters) -> None:
    # Berlin leaves summer time on 25 Oct 2026: a 3-day wait is 72 hours, and
    # the window (09:30-20:00 local) applies in winter time when it ends.
    text = (
        (EMAIL.replace('"09:00-20:00"', '"09:30-20:00"') + STEPS)
        .replace("when: {opened: offer, within: 3d}", "when: {not_opened: offer, after: 3d}")
        .replace(
            "channel: email\n    template: winback/reminder",
            "channel: sms\n    template: winback/nudge",
        )
    )
    offers = start(adapters, text, n=3)
    sent = datetime(2026, 10, 24, 8, 0, tzinfo=UTC)  # 10:00 summer time
    with adapters.engine.begin() as conn:
        conn.execute(update(Send).values(sent_at=sent))
        conn.execute(update(Customer).values(timezone="Europe/Berlin", country="DE"))
        ids = [s["customer_id"] for s in offers]
        conn.execute(
            insert(Consent),
            [
                {
                    "customer_id": i,
                    "channel": "sms",
                    "status": "granted",
                    "recorded_at": NOW,
                    "source": "test",
                    "evidence": "form",
                }
                for i in ids
            ],
        )
    deadline = sent + timedelta(hours=72)  # 09:00 winter time: before the window
    tick(adapters, deadline)
    nudges = by_contact(adapters, "reminder")
    assert {n["due_at"] for n in nudges.values()} == {deadline} and len(nudges) == len(offers)
    clock = FakeClock(deadline)
    report = dispatch(adapters, clock, OutboxChannel(adapters.engine, "sms", clock))
    assert report.deferred == len(offers)
    opening = datetime(2026, 10, 27, 8, 30, tzinfo=UTC)  # 09:30 CET
    assert {n["due_at"] for n in by_contact(adapters, "reminder").values()} == {opening}


def test_after_entry_counts_from_each_contacts_entry(adapters: Adapters) -> None:
    text = (
        EMAIL.replace("  start: 2026-11-05 10:00\n", "  start: 2026-11-01 09:00\n")
        + "  - id: rating\n    channel: email\n    template: winback/reminder\n"
        + "    when: {after_entry: 15d}\n"
        + 'entry: {every: 1d, at: "09:00"}\n'
    )
    entered = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)
    people(adapters, 10)
    launch(adapters, text, now=entered)
    adapters.launches.start_due(entered)
    report = tick(adapters, entered + timedelta(seconds=15))
    with adapters.engine.connect() as conn:
        treated = set(conn.execute(select(Contact.id).where(Contact.status == "treated")).scalars())
    ratings = by_contact(adapters, "rating")
    assert set(ratings) == treated and treated
    assert {r["due_at"] for r in ratings.values()} == {entered + timedelta(days=15)}
    assert report.fired[("mail-test", "rating", "entry")] == len(treated)
    assert not tick(adapters, entered + timedelta(minutes=1)).fired


def test_the_cli_runs_one_pass_and_prints_what_fired_and_what_was_skipped(
    adapters: Adapters, database_url: str
) -> None:
    offers = start(adapters, EXPIRING)
    record(adapters, SENT + timedelta(minutes=5), opened(offers[0], timedelta(minutes=4)))
    record(adapters, SENT + timedelta(minutes=22), opened(offers[1], timedelta(minutes=1)))
    env = {"ENGINE_DATABASE_URL": database_url, "ENGINE_CONFIG": ""}
    result = CliRunner().invoke(
        cli, ["followups", "--now", "2026-11-05 02:22:00"], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "follow-ups queued (1 rules evaluated)" in result.output
    lines = [line.replace("│", " ").split() for line in result.output.splitlines()]
    assert ["mail-test", "reminder", "event", "1"] in lines  # queued
    assert ["mail-test", "reminder", "expired", "1"] in lines  # not queued, and why
