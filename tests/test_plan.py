"""Eligibility before the split, and `plan_campaign` / `campaign plan` output."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from engine.bootstrap import Adapters
from engine.cli import cli
from engine.core.campaign.assign import Hasher, Split, groups_salt
from engine.core.campaign.eligibility import Holdout, Policy
from engine.db.models import Consent, Contact, Send, Suppression
from engine.render import TemplateRenderer
from engine.services.planning import plan_campaign
from engine.services.validation import validate_campaign
from engine.settings import SenderSettings

from .conftest import NOW
from .people import seed

ROOT = Path(__file__).resolve().parents[1]
NO_HOLDOUT = Holdout(0.0, "none")
TEMPLATES = TemplateRenderer(ROOT / "templates", SenderSettings())


def policy(holdout: Holdout = NO_HOLDOUT, caps: dict[str, tuple[int, int]] | None = None) -> Policy:
    return Policy(
        timezone="Asia/Shanghai",
        consent={"email": "opt_in", "sms": "opt_in", "mail": "opt_out", "call": "opt_out"},
        caps=caps if caps is not None else {"email": (2, 7), "sms": (1, 7), "mail": (1, 30)},
        holdout=holdout,
        currency="CNY",
    )


def reasons(adapters: Adapters, channel: str, holdout: Holdout = NO_HOLDOUT) -> dict[str, int]:
    rules = policy(holdout).rules(None, [channel], {}, NOW, ZoneInfo("Asia/Shanghai"))
    funnel = adapters.audience.funnel(rules)
    assert funnel.matched == 4
    assert funnel.eligible + sum(count for _, count in funnel.excluded) == funnel.matched
    return {reason: count for reason, count in funnel.excluded if count}


def add(adapters: Adapters, table: type, rows: list[dict[str, object]]) -> None:
    with adapters.engine.begin() as conn:
        conn.execute(insert(table), rows)


def _send(
    contact: int, customer: int, step: str, due: datetime, state: str = "sent"
) -> dict[str, object]:
    return {
        "contact_id": contact,
        "campaign_id": 1,
        "customer_id": customer,
        "step": step,
        "channel": "email",
        "due_at": due,
        "state": state,
        "created_at": due,
        "updated_at": due,
    }


def test_every_exclusion_reason_in_order(adapters: Adapters) -> None:
    ids = seed(adapters.engine)
    ann, dan = ids["ann"], ids["dan"]
    # cai has no e-mail; bob withdrew; dan has no consent row (opt-in needs one)
    assert reasons(adapters, "email") == {"unreachable_email": 1, "no_consent_email": 2}
    consent = {
        "channel": "email",
        "status": "granted",
        "recorded_at": NOW,
        "source": "t",
        "evidence": "",
    }
    add(adapters, Consent, [{"customer_id": dan, **consent}])
    suppression = {
        "channel": "all",
        "kind": "customer",
        "reason": "erasure",
        "source": "t",
        "created_at": NOW,
    }
    add(adapters, Suppression, [{"customer_id": dan, **suppression}])
    assert reasons(adapters, "email") == {
        "unreachable_email": 1,
        "no_consent_email": 1,
        "suppressed_email": 1,
    }
    # two e-mails to ann in the last 7 days reach the cap of 2; failed sends and older ones do not count
    with adapters.engine.connect() as conn:
        contact = conn.execute(Contact.__table__.select().where(Contact.customer_id == ann)).first()
    assert contact is not None
    add(
        adapters,
        Send,
        [
            _send(contact.id, ann, "a", NOW - timedelta(days=1)),
            _send(contact.id, ann, "b", NOW - timedelta(days=8)),
            _send(contact.id, ann, "c", NOW - timedelta(hours=2), "failed"),
        ],
    )
    assert "frequency_cap_email" not in reasons(adapters, "email")
    add(adapters, Send, [_send(contact.id, ann, "d", NOW - timedelta(days=6), "queued")])
    assert reasons(adapters, "email")["frequency_cap_email"] == 1
    # the global holdout comes before the cap
    salt = next(f"s{n}" for n in range(1000) if Holdout(0.5, f"s{n}").contains(ann))
    assert reasons(adapters, "email", Holdout(0.5, salt)).get("global_holdout") == 1


def test_opt_out_channels_need_only_no_withdrawal(adapters: Adapters) -> None:
    seed(adapters.engine)
    # mail: ann has an address and no mail consent row (opt-out basis), cai withdrew,
    # bob and dan have no postal address
    assert reasons(adapters, "mail") == {"unreachable_mail": 3}
    # sms: ann has a phone but no sms consent; cai granted
    assert reasons(adapters, "sms") == {"unreachable_sms": 2, "no_consent_sms": 1}


def test_the_holdout_is_the_same_in_sql_and_in_python(adapters: Adapters) -> None:
    ids = seed(adapters.engine)
    for n in range(40):
        holdout = Holdout(0.5, f"salt-{n}")
        expected = sum(holdout.contains(i) for i in ids.values())
        rules = policy(holdout).rules(None, ["call"], {}, NOW, ZoneInfo("UTC"))
        funnel = adapters.audience.funnel(rules)
        assert dict(funnel.excluded)["global_holdout"] == expected - sum(
            holdout.contains(ids[name])
            for name in ("bob", "dan")  # no phone: unreachable first
        )


def test_holdout_share_is_close_to_the_configured_share() -> None:
    holdout = Holdout(0.02, "global-holdout-v1")
    held = sum(holdout.contains(i) for i in range(1, 200_001))
    assert 0.019 < held / 200_000 < 0.021


WINBACK_PATH = ROOT / "campaigns" / "winback.yaml"
WINBACK = WINBACK_PATH.read_text()


def key_putting(customer_id: int, cell: str, text: str) -> str:
    """A campaign key under which the hash puts `customer_id` in `cell`."""
    for n in range(1000):
        spec = validate_campaign(
            text.replace("key: winback-2026-12", f"key: plan-{n}"), "k.yaml", TEMPLATES
        ).spec
        if (
            Split.of(spec).cell(
                Hasher.for_campaign(spec.key, groups_salt(spec)).bucket(customer_id)
            )
            == cell
        ):
            return spec.key
    raise AssertionError("no key found")


def test_plan_shows_funnel_cells_steps_costs_samples_and_warnings(adapters: Adapters) -> None:
    ids = seed(adapters.engine)
    text = WINBACK.replace(
        "      - lifecycle: {in: [at_risk, lapsed]}\n      - rfm_monetary: {gte: 4}\n"
        "      - last_order_at: {before: 90 days ago}\n      - consent: email\n",
        "      - country: CN\n",
    ).replace("      - tag: staff\n", "      - tag: nobody\n")
    text = text.replace("key: winback-2026-12", f"key: {key_putting(ids['ann'], 'offer15', text)}")
    checked = validate_campaign(text, "winback.yaml", adapters.renderer)
    plan = plan_campaign(checked, policy(), adapters.audience, adapters.renderer, NOW)
    # ann and bob are in CN; bob withdrew his e-mail consent
    assert (plan.funnel.matched, plan.funnel.eligible) == (2, 1)
    assert dict(plan.funnel.excluded)["no_consent_email"] == 1
    assert [(c.code, c.size) for c in plan.cells] == [
        ("control", 0),
        ("offer15", 1),
        ("offer20", 0),
    ]
    offer, reminder, nudge, call = plan.steps
    assert (offer.volume, offer.follow_up, offer.cost) == (1, False, Decimal("0.001"))
    # start 2026-12-02 10:00 Asia/Shanghai is a Wednesday inside the window
    assert offer.first_send == datetime(2026, 12, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert reminder.follow_up and reminder.first_send is None
    assert reminder.trigger == "opened offer within 3d"
    assert nudge.trigger == "not opened offer after 3d" and nudge.channel == "sms"
    assert call.cost == Decimal("4.00")
    # follow-ups count only customers contactable on their channel: ann has a
    # phone (calls are opt-out) but no SMS consent
    assert (nudge.volume, call.volume) == (0, 1)
    assert plan.cost_by_channel() == {
        "email": Decimal("0.002"),
        "sms": Decimal("0"),
        "call": Decimal("4.00"),
    }
    # one sample per test cell, rendered for the real eligible customer
    assert [(s.cell, s.step) for s in plan.samples] == [("offer15", "offer"), ("offer20", "offer")]
    assert "Ann" in plan.samples[0].message.text and "15%" in (
        plan.samples[0].message.subject or ""
    )
    assert plan.baseline_rate == 1.0  # ann ordered 10 days ago, inside the 30-day window
    assert not any("control group has only 0" in w or "nobody" in w for w in plan.warnings)


def test_plan_warns_with_the_minimum_detectable_lift(adapters: Adapters) -> None:
    seed(adapters.engine)
    text = WINBACK.replace("    none:\n      - tag: staff\n", "    none:\n      - tag: nobody\n")
    text = text.replace(
        "      - lifecycle: {in: [at_risk, lapsed]}\n      - rfm_monetary: {gte: 4}\n"
        "      - last_order_at: {before: 90 days ago}\n      - consent: email\n",
        "      - origin: internal\n",
    ).replace(
        "channel: email\n    template: winback/offer",
        "channel: call\n    template: winback/script",
        1,
    )
    checked = validate_campaign(text, "w.yaml", adapters.renderer)
    plan = plan_campaign(checked, policy(), adapters.audience, adapters.renderer, NOW)
    assert plan.channels == ("call",)
    assert plan.funnel.eligible == 2  # ann and cai have phones; dan has none
    assert plan.baseline_rate == 0.5  # ann ordered within 30 days, cai did not
    # two customers in three cells: one cell is empty, so no lift is detectable
    assert sum(cell.size for cell in plan.cells) == 2 and plan.min_detectable_lift is None
    assert not any("unlikely to be detected" in w for w in plan.warnings)


def test_validate_and_plan_commands(database_url: str, tmp_path: Path) -> None:
    env = {"ENGINE_DATABASE_URL": database_url, "ENGINE_CONFIG": ""}
    runner = CliRunner()
    good = [str(p) for p in sorted((ROOT / "campaigns").glob("*.yaml"))]
    result = runner.invoke(cli, ["validate", *good], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.count("ok ") == len(good)
    bad = tmp_path / "bad.yaml"
    bad.write_text(WINBACK.replace("offer20: {share: 45%", "offer20: {share: 55%"))
    result = runner.invoke(cli, ["validate", good[0], str(bad)], env=env)
    assert result.exit_code == 1
    line = WINBACK.splitlines().index("    offer20: {share: 45%, vars: {discount: 20}}") + 1
    assert f"{bad}:{line}:15 groups.cells.offer20.share: shares add up to 110%" in result.output
    assert "1 of 2 campaign file(s) invalid" in result.output

    result = runner.invoke(
        cli, ["plan", str(WINBACK_PATH), "--json", "--at", "2026-11-01 12:00:00"], env=env
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["key"] == "winback-2026-12" and doc["funnel"]["matched"] == 0
    assert [step["id"] for step in doc["steps"]] == ["offer", "reminder", "nudge", "call"]
    assert doc["as_of"] == "2026-11-01T12:00:00+00:00"
    result = runner.invoke(cli, ["plan", str(WINBACK_PATH)], env=env)
    assert result.exit_code == 0, result.output
    assert "audience funnel" in result.output and "eligible" in result.output


@pytest.mark.parametrize(
    ("channel", "reachable"), [("email", 1), ("sms", 1), ("mail", 1), ("call", 2)]
)
def test_a_cap_of_zero_closes_the_channel(adapters: Adapters, channel: str, reachable: int) -> None:
    seed(adapters.engine)
    rules = policy(caps={channel: (0, 7)}).rules(None, [channel], {}, NOW, ZoneInfo("UTC"))
    funnel = adapters.audience.funnel(rules)
    assert funnel.eligible == 0
    assert dict(funnel.excluded)[f"frequency_cap_{channel}"] == reachable
