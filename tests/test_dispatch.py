"""`dispatch_due`: send-time checks, windows, outcomes, leases and effects, on both databases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from click.testing import CliRunner
from sqlalchemy import insert, select, update

from engine.bootstrap import Adapters, dispatch_ports, dispatch_rules
from engine.cli import cli
from engine.core.sending.message import Message, Outcome
from engine.db.dispatch import SqlDispatch
from engine.db.models import (
    Alert,
    Campaign,
    Consent,
    Contact,
    Customer,
    OutboxMessage,
    Send,
    Suppression,
)
from engine.db.outbox import OutboxChannel
from engine.services.dispatching import DispatchReport, dispatch_due
from engine.services.launching import change_status, launch_campaign
from engine.services.validation import validate_campaign

from .conftest import NOW
from .fakes import FakeChannel, FakeClock
from .test_launch import CODES, _customer, policy, table

# Thursday 5 Nov 2026, 10:00 Shanghai = 02:00 UTC
OPEN = datetime(2026, 11, 5, 2, 0, tzinfo=UTC)
EMAIL = """\
key: mail-test
name: Mail test
groups:
  control: 20%
  cells:
    a: {share: 80%, vars: {discount: 15}}
schedule:
  start: 2026-11-05 10:00
  timezone: Asia/Shanghai
  windows: {hours: "09:00-20:00"}
steps:
  - id: offer
    channel: email
    template: winback/offer
"""
SMS = EMAIL.replace("key: mail-test", "key: sms-test").replace(
    "channel: email\n    template: winback/offer", "channel: sms\n    template: winback/nudge"
)


def people(adapters: Adapters, n: int, channel: str = "email", **fields: Any) -> list[int]:
    """`n` customers in Shanghai with an e-mail, a phone and consent on `channel`."""
    rows = [
        _customer(
            f"p{i}",
            email=f"p{i}@example.com",
            phone=f"+86139{i:08d}",
            first_name=f"P{i}",
            timezone="Asia/Shanghai",
            country="CN",
            **fields,
        )
        for i in range(n)
    ]
    with adapters.engine.begin() as conn:
        conn.execute(insert(Customer), rows)
        ids = list(conn.execute(select(Customer.id).order_by(Customer.id)).scalars())
        conn.execute(
            insert(Consent),
            [
                {
                    "customer_id": i,
                    "channel": channel,
                    "status": "granted",
                    "recorded_at": NOW - timedelta(days=30),
                    "source": "test",
                    "evidence": "form",
                }
                for i in ids
            ],
        )
    return ids


def launch(adapters: Adapters, text: str = EMAIL, now: datetime = NOW) -> None:
    checked = validate_campaign(text, "c.yaml", adapters.renderer)
    launch_campaign(checked, text, policy(), adapters.launches, CODES, now)


def dispatch(
    adapters: Adapters, clock: FakeClock, channel: Any, worker: str = "w1", **rules: Any
) -> DispatchReport:
    base = dispatch_rules(adapters, worker)
    chosen = replace(base, **{"throttle": {}, **rules})
    return dispatch_due(
        dispatch_ports(adapters), {channel.name: channel}, chosen, clock, clock.sleep
    )


def states(adapters: Adapters) -> dict[str, int]:
    counts: dict[str, int] = {}
    for send in table(adapters, Send):
        counts[send["state"]] = counts.get(send["state"], 0) + 1
    return counts


def test_due_sends_go_once_through_the_outbox_and_controls_get_none(adapters: Adapters) -> None:
    people(adapters, 50)
    launch(adapters)
    treated = [c for c in table(adapters, Contact) if c["status"] == "treated"]
    clock = FakeClock(OPEN - timedelta(minutes=1))
    outbox = OutboxChannel(adapters.engine, "email", clock)
    assert dispatch(adapters, clock, outbox).states == {}  # not due yet
    clock.now = OPEN
    report = dispatch(adapters, clock, outbox)
    assert report.states == {("email", "sent"): len(treated)}
    assert dispatch(adapters, clock, outbox).states == {}  # nothing twice
    rows = table(adapters, OutboxMessage)
    assert len(rows) == len(treated) == len({r["send_id"] for r in rows})
    by_contact = {c["id"]: c for c in treated}
    sends = {s["id"]: s for s in table(adapters, Send)}
    first = rows[0]
    contact = by_contact[sends[first["send_id"]]["contact_id"]]
    assert contact["response_code"] in first["text"] and "15% off" in first["text"]
    assert first["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = first["headers"]["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith("http://127.0.0.1:5000/u/") and unsubscribe in first["html"]
    assert "@" not in unsubscribe.removeprefix("http://")  # no personal data in URLs
    assert "/t/c/" in first["html"] and "/t/o/" in first["html"]
    assert "https://shop.example/new" not in first["html"]  # the link is tracked
    assert all(s["state"] == "sent" and s["attempts"] == 1 for s in sends.values())


def test_a_stop_or_suppression_after_launch_prevents_the_send(adapters: Adapters) -> None:
    ids = people(adapters, 40, channel="sms")
    launch(adapters, SMS)
    sends = table(adapters, Send)
    stopped, suppressed = sends[0]["customer_id"], sends[1]["customer_id"]
    with adapters.engine.begin() as conn:
        conn.execute(
            insert(Consent).values(
                customer_id=stopped,
                channel="sms",
                status="withdrawn",
                recorded_at=NOW + timedelta(hours=1),
                source="twilio",
                evidence="STOP",
            )
        )
        conn.execute(
            insert(Suppression).values(
                channel="sms",
                customer_id=suppressed,
                kind="phone",
                reason="landline",
                source="twilio",
                created_at=NOW,
            )
        )
    fake = FakeChannel("sms")
    report = dispatch(adapters, FakeClock(OPEN), fake)
    assert report.skipped == {"no_consent_sms": 1, "suppressed_sms": 1}
    got = {m.send_id for m in fake.received}
    assert sends[0]["id"] not in got and sends[1]["id"] not in got
    assert len(got) == len(sends) - 2 and len(ids) == 40
    skipped = {s["id"]: s for s in table(adapters, Send) if s["state"] == "skipped"}
    assert skipped[sends[0]["id"]]["last_error"] == "no_consent_sms"
    assert all(m.rendered.text.endswith("Reply STOP to opt out") for m in fake.received)


def test_sends_outside_the_window_or_quiet_hours_wait_for_the_next_opening(
    adapters: Adapters,
) -> None:
    people(adapters, 10, channel="sms")
    launch(adapters, SMS.replace('hours: "09:00-20:00"', 'hours: "07:00-23:00"'))
    fake = FakeChannel("sms")
    late = datetime(2026, 11, 5, 13, 30, tzinfo=UTC)  # 21:30 Shanghai: after quiet hours
    report = dispatch(adapters, FakeClock(late), fake)
    assert report.deferred == len(table(adapters, Send)) and fake.received == []
    morning = datetime(2026, 11, 6, 0, 0, tzinfo=UTC)  # 08:00 Shanghai (SMS quiet hours end)
    assert {s["due_at"] for s in table(adapters, Send)} == {morning}
    assert {s["state"] for s in table(adapters, Send)} == {"queued"}
    assert dispatch(adapters, FakeClock(morning - timedelta(seconds=1)), fake).states == {}
    sent = dispatch(adapters, FakeClock(morning), fake).states
    assert sent == {("sms", "sent"): len(table(adapters, Send))}


def test_paused_campaigns_send_nothing_until_resumed(adapters: Adapters) -> None:
    people(adapters, 10)
    launch(adapters, now=OPEN)
    change_status(adapters.launches, "mail-test", "paused", "check offer", OPEN)
    fake = FakeChannel("email")
    assert dispatch(adapters, FakeClock(OPEN), fake).states == {} and fake.received == []
    change_status(adapters.launches, "mail-test", "running", None, OPEN)
    assert sum(dispatch(adapters, FakeClock(OPEN), fake).states.values()) == len(fake.received) > 0


def test_outcomes_settle_sends_by_the_state_machine(adapters: Adapters) -> None:
    people(adapters, 30)
    launch(adapters, now=OPEN)
    ids = sorted(s["id"] for s in table(adapters, Send))
    reset = OPEN + timedelta(seconds=90)
    answers = {
        ids[0]: Outcome(ids[0], "failed", error="400: invalid address"),
        ids[1]: Outcome(ids[1], "retry", error="429", retry_at=reset),
        ids[2]: Outcome(ids[2], "unknown", error="timeout"),
        ids[3]: Outcome(ids[3], "retry", error="connection refused"),
    }

    def script(message: Message) -> Outcome:
        return answers.get(message.send_id) or Outcome(message.send_id, "sent", "pm-1")

    dispatch(adapters, FakeClock(OPEN), FakeChannel("email", script))
    sends = {s["id"]: s for s in table(adapters, Send)}
    assert (
        sends[ids[0]]["state"] == "failed" and sends[ids[0]]["last_error"] == "400: invalid address"
    )
    assert sends[ids[1]]["state"] == "queued" and sends[ids[1]]["due_at"] == reset
    assert sends[ids[2]]["state"] == "unknown"
    assert sends[ids[3]]["due_at"] == OPEN + timedelta(seconds=60)  # back-off
    assert sends[ids[4]]["state"] == "sent" and sends[ids[4]]["provider_message_id"] == "pm-1"
    assert all(s["attempts"] == 1 for s in sends.values())
    # attempts are capped: the next refusals use them up
    refuse = FakeChannel("email", lambda m: Outcome(m.send_id, "retry", error="busy"))
    clock = FakeClock(OPEN)
    for _ in range(6):
        clock.advance(hours=2)
        dispatch(adapters, clock, refuse)
    final = {s["id"]: s for s in table(adapters, Send)}
    assert final[ids[3]]["state"] == "failed" and final[ids[3]]["attempts"] == 5
    assert final[ids[3]]["last_error"].startswith("gave up after 5 attempts")
    assert final[ids[2]]["state"] == "unknown"  # never retried blindly


def test_expired_claims_are_requeued_only_when_never_handed_over(adapters: Adapters) -> None:
    people(adapters, 20)
    launch(adapters, now=OPEN)
    outbox = SqlDispatch(adapters.engine)
    lease = timedelta(minutes=5)
    first = outbox.claim("email", OPEN, 5, lease, "crashed")
    second = outbox.claim("email", OPEN, 5, lease, "crashed")
    outbox.hand_over([d.send_id for d in second], OPEN, "crashed")
    assert outbox.reap(OPEN + lease) == (0, 0)  # not expired yet
    assert outbox.reap(OPEN + lease + timedelta(seconds=1)) == (5, 5)
    sends = {s["id"]: s for s in table(adapters, Send)}
    assert {sends[d.send_id]["state"] for d in first} == {"queued"}
    assert {sends[d.send_id]["state"] for d in second} == {"unknown"}
    # the provider's word reconciles; a late claim by the crashed worker changes nothing
    seen = [(d.send_id, f"sg-{d.send_id}") for d in second[:3]]
    assert outbox.reconcile(seen, OPEN + timedelta(minutes=10)) == 3
    assert outbox.reconcile(seen, OPEN + timedelta(minutes=11)) == 0  # events repeat
    later = OPEN + timedelta(hours=25)
    assert outbox.resolve_unknown(later, timedelta(hours=24), resend=False) == 2
    sends = {s["id"]: s for s in table(adapters, Send)}
    assert [sends[d.send_id]["state"] for d in second] == ["sent"] * 3 + ["failed"] * 2
    assert sends[second[0].send_id]["provider_message_id"] == f"sg-{second[0].send_id}"


def test_two_claims_never_share_a_send(adapters: Adapters) -> None:
    people(adapters, 60)
    launch(adapters, now=OPEN)
    outbox = SqlDispatch(adapters.engine)
    a = outbox.claim("email", OPEN, 20, timedelta(minutes=5), "a")
    b = outbox.claim("email", OPEN, 100, timedelta(minutes=5), "b")
    assert not {d.send_id for d in a} & {d.send_id for d in b}
    assert len(a) + len(b) == len(table(adapters, Send))


def test_provider_effects_opt_out_suppress_alert_and_pause(adapters: Adapters) -> None:
    people(adapters, 30, channel="sms")
    launch(adapters, SMS, now=OPEN)
    ids = sorted(s["id"] for s in table(adapters, Send))
    answers = {
        ids[0]: Outcome(ids[0], "failed", error="21610 unsubscribed", opt_out=True),
        ids[1]: Outcome(ids[1], "failed", error="30006 landline", suppress="sms"),
        ids[2]: Outcome(ids[2], "failed", error="30007 filtered", alert="carrier filtering"),
    }
    fake = FakeChannel("sms", lambda m: answers.get(m.send_id) or Outcome(m.send_id, "sent"))
    dispatch(adapters, FakeClock(OPEN), fake)
    sends = {s["id"]: s for s in table(adapters, Send)}
    consents = [c for c in table(adapters, Consent) if c["status"] == "withdrawn"]
    assert [c["customer_id"] for c in consents] == [sends[ids[0]]["customer_id"]]
    suppressions = table(adapters, Suppression)
    assert [(s["customer_id"], s["channel"], s["kind"]) for s in suppressions] == [
        (sends[ids[1]]["customer_id"], "sms", "phone")
    ]
    assert suppressions[0]["token_hash"] and len(suppressions[0]["token_hash"]) == 64
    assert [a["message"] for a in table(adapters, Alert)] == ["carrier filtering"]


def test_a_refused_key_pauses_the_campaign_and_holds_the_rest(adapters: Adapters) -> None:
    people(adapters, 30)
    launch(adapters, now=OPEN)
    refused = FakeChannel(
        "email",
        lambda m: Outcome(m.send_id, "retry", error="401", pause="SendGrid refused the key"),
    )
    report = dispatch(adapters, FakeClock(OPEN), refused, batch_size=100)
    assert report.paused == ["SendGrid refused the key"]
    with adapters.engine.connect() as conn:
        status, reason = conn.execute(select(Campaign.status, Campaign.status_reason)).one()
    assert (status, reason) == ("paused", "SendGrid refused the key")
    assert set(states(adapters)) == {"queued"}  # nothing lost, nothing sent


def test_consecutive_provider_errors_pause_the_campaign(adapters: Adapters) -> None:
    people(adapters, 30)
    launch(adapters, now=OPEN)
    down = FakeChannel("email", lambda m: Outcome(m.send_id, "unknown", error="503"))
    report = dispatch(adapters, FakeClock(OPEN), down, pause_after_errors=5, batch_size=3)
    assert len(report.paused) == 1 and report.paused[0].startswith("6 provider errors in a row")
    with adapters.engine.connect() as conn:
        assert conn.execute(select(Campaign.status)).scalar_one() == "paused"
    assert states(adapters)["unknown"] == 6  # two batches of 3 went out before the pause


def test_the_send_time_cap_counts_what_went_in_other_campaigns(adapters: Adapters) -> None:
    ids = people(adapters, 5)
    launch(adapters, now=OPEN)
    launch(adapters, EMAIL.replace("key: mail-test", "key: mail-two"), now=OPEN)
    fake = FakeChannel("email")
    report = dispatch(adapters, FakeClock(OPEN), fake, policy=policy_with_cap(1))
    sent_to = [m.to for m in fake.received]
    assert len(sent_to) == len(set(sent_to))  # one e-mail per customer within the cap
    assert report.skipped.get("frequency_cap_email", 0) == len(table(adapters, Send)) - len(sent_to)
    assert len(ids) == 5


def policy_with_cap(count: int) -> Any:
    return replace(policy(), caps={"email": (count, 7)})


def test_a_template_error_fails_the_send_with_the_reason(adapters: Adapters) -> None:
    people(adapters, 5)
    launch(adapters, now=OPEN)
    with adapters.engine.begin() as conn:  # the stored file loses the variable the template needs
        spec = conn.execute(select(Campaign.spec_yaml)).scalar_one()
        conn.execute(update(Campaign).values(spec_yaml=spec.replace(", vars: {discount: 15}", "")))
    fake = FakeChannel("email")
    dispatch(adapters, FakeClock(OPEN), fake)
    failed = [s for s in table(adapters, Send) if s["state"] == "failed"]
    assert failed and fake.received == []
    assert "discount" in failed[0]["last_error"]


def test_the_cli_dispatches_through_the_outbox_and_shows_it(
    adapters: Adapters, database_url: str, tmp_path: Any
) -> None:
    people(adapters, 20)
    campaign = tmp_path / "c.yaml"
    campaign.write_text(EMAIL)
    env = {"ENGINE_DATABASE_URL": database_url, "ENGINE_CONFIG": ""}

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    assert run("launch", str(campaign), "--at", "2026-11-01 12:00:00").exit_code == 0
    early = run("dispatch", "--at", "2026-11-05 01:59:00")
    assert early.exit_code == 0 and "email" not in early.output.split("sends this pass")[1]
    result = run("dispatch", "--at", "2026-11-05 02:00:00")
    assert result.exit_code == 0, result.output
    assert "campaign mail-test started" in result.output
    sent = len(table(adapters, Send))
    assert f"│ email   │  sent │ {sent:>5} │" in result.output
    shown = run("outbox", "--limit", "1").output
    assert "mail-test" in shown and "subject: " in shown and "15% off" in shown
    with adapters.engine.begin() as conn:
        conn.execute(update(Campaign).values(status="paused", status_reason="401 from SendGrid"))
        campaign_id = conn.execute(select(Campaign.id)).scalar_one()
        conn.execute(
            insert(Alert).values(
                created_at=OPEN, campaign_id=campaign_id, kind="paused", message="401 from SendGrid"
            )
        )
    status = run("status", "mail-test").output
    assert "reason: 401 from SendGrid" in status and "latest alerts" in status
