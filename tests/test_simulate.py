"""`campaign simulate`: the engine run for real on a copy, with a seeded response model."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from engine.bootstrap import Adapters
from engine.cli.simulate import World
from engine.cli.simulate_callbacks import WebCallbacks
from engine.core.simulation.model import ResponseModel
from engine.core.simulation.timeline import Timeline
from engine.db.models import Contact, Event, Send
from engine.db.simulation import SqlSimulation
from engine.services.simulating import Run, simulate_campaign
from engine.services.validation import validate_campaign

from .conftest import NOW
from .test_dispatch import EMAIL, SMS, people

SHANGHAI = ZoneInfo("Asia/Shanghai")
REMINDER = EMAIL + (
    "  - id: reminder\n"
    "    channel: email\n"
    "    template: winback/reminder\n"
    "    when: {opened: offer, within: 20m}\n"
    "costs: {email: 0.25, currency: CNY}\n"
)
CERTAIN = {"channels": {"email": {"bounced": {"p": 0}, "delivered": {"p": 1}}}}


def model(**layers: Any) -> ResponseModel:
    return ResponseModel.model_validate(CERTAIN | layers)


def simulate(
    adapters: Adapters,
    tmp_path: Path,
    text: str,
    chosen: ResponseModel,
    seed: int = 7,
    days: int = 5,
) -> Timeline:
    """Simulate `text` right on the test database (the copy is tested on its own)."""
    file = tmp_path / "campaign.yaml"
    file.write_text(text, encoding="utf-8")
    spec = validate_campaign(text, str(file), adapters.renderer).spec
    run = Run(NOW, days, SHANGHAI, seed, timedelta(minutes=5), hourly_days=1)
    callbacks = WebCallbacks(adapters, chosen.order_value)
    world, outbox = World(adapters, file), SqlSimulation(adapters.engine)
    timeline = simulate_campaign(spec, chosen, world, outbox, callbacks, run)
    assert all(status == 200 for _, status in callbacks.answers)  # every callback verified
    return timeline


def test_the_timeline_follows_the_seeded_model_and_controls_get_nothing(
    adapters: Adapters, tmp_path: Path
) -> None:
    people(adapters, 400)
    half = model(steps={"offer": {"opened": {"p": "50%", "delay": "1h"}}})
    timeline = simulate(adapters, tmp_path, EMAIL, half)
    treated, control = timeline.contacts["a"], timeline.contacts["control"]
    assert control > 0 and timeline.cells == {"a": False, "control": True}
    assert timeline.sends_by() == {("offer", "a"): treated}
    assert timeline.daily == {(datetime(2026, 11, 5).date(), "offer", "a"): treated}
    assert timeline.hourly == {(datetime(2026, 11, 5, 10), "offer", "a"): treated}
    opened = timeline.reactions[("offer", "a", "opened")]
    assert timeline.reactions[("offer", "a", "delivered")] == treated
    assert abs(opened - treated / 2) < 4 * (treated / 4) ** 0.5  # binomial, 4 sigma
    assert not any(cell == "control" for _, cell, _ in timeline.reactions)
    with adapters.engine.connect() as conn:
        opens = conn.execute(select(Event.send_id).where(Event.kind == "opened")).all()
        held_out = conn.execute(select(Contact.id).where(Contact.status == "held_out")).all()
        control_sends = conn.execute(
            select(Send.id)
            .join(Contact, Contact.id == Send.contact_id)
            .where(Contact.status == "held_out")
        ).all()
    assert len(opens) == opened and len(held_out) == control and not control_sends


def test_a_20_minute_follow_up_fires_only_for_opens_inside_the_window(
    adapters: Adapters, tmp_path: Path
) -> None:
    people(adapters, 300)
    # Median 20 minutes: about half the opens come inside the window.
    chosen = model(
        steps={
            "offer": {
                "opened": {"p": "100%", "delay": "20m"},
                "delivered": {"p": 1, "delay": "0m"},
            },
            "reminder": {"opened": {"p": 0}},
        }
    )
    timeline = simulate(adapters, tmp_path, REMINDER, chosen)
    with adapters.engine.connect() as conn:
        sends = {
            row.id: row
            for row in conn.execute(select(Send.id, Send.contact_id, Send.step, Send.sent_at))
        }
        opens = conn.execute(select(Event.send_id, Event.occurred_at).where(Event.kind == "opened"))
        inside = {
            sends[sid].contact_id
            for sid, at in opens
            if at - sends[sid].sent_at <= timedelta(minutes=20)
        }
    reminded = {s.contact_id for s in sends.values() if s.step == "reminder"}
    offers = [s for s in sends.values() if s.step == "offer"]
    assert reminded == inside and 0 < len(inside) < len(offers)
    assert timeline.fired == {("reminder", "event"): len(inside)}
    assert timeline.sends_by()[("reminder", "a")] == len(inside)


def test_quiet_hours_hold_sms_back_and_are_reported(adapters: Adapters, tmp_path: Path) -> None:
    people(adapters, 60, channel="sms")
    early = SMS.replace("start: 2026-11-05 10:00", "start: 2026-11-05 07:00").replace(
        '"09:00-20:00"', '"07:00-22:00"'
    )  # the window opens at 07:00; SMS quiet hours (08:00-21:00) open later
    timeline = simulate(adapters, tmp_path, early, ResponseModel())
    treated = timeline.contacts["a"]
    assert timeline.held == {("offer", "a", "deferred_quiet_hours"): treated}
    assert timeline.hourly == {(datetime(2026, 11, 5, 8), "offer", "a"): treated}


def test_the_cost_is_the_messages_times_the_cost_per_message(
    adapters: Adapters, tmp_path: Path
) -> None:
    people(adapters, 100)
    chosen = model(steps={"offer": {"opened": {"p": "60%", "delay": "5m"}}})
    timeline = simulate(adapters, tmp_path, REMINDER, chosen)
    messages = timeline.messages[("email", "a")]
    assert messages == sum(timeline.sends_by().values()) > timeline.contacts["a"]  # + reminders
    spec = validate_campaign(REMINDER, "c", adapters.renderer).spec
    assert timeline.cost(spec.costs) == {("email", "a"): Decimal("0.25") * messages}
    assert timeline.as_json(spec.costs, "CNY")["cost"]["total"] == str(Decimal("0.25") * messages)
