"""Follow-up rules from campaign files: `else:` validation with file:line, rules, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.core.followups.rules import expired_reason, rules_of, send_window
from engine.services.validation import validate_campaign

from .test_campaign_validate import GOOD, TEMPLATES, violations

ELSE = GOOD.replace(
    "    when: {opened: offer, within: 20m}\n",
    "    when: {opened: offer, within: 3d}\n    else: nudge\n",
).replace("    when: {not_opened: offer, after: 3d}\n", "")
T = datetime(2026, 11, 5, 2, 0, tzinfo=UTC)


def test_an_else_step_is_an_alternative_not_a_first_step() -> None:
    spec = validate_campaign(ELSE, "c.yaml", TEMPLATES).spec
    assert [step.id for step in spec.first_steps()] == ["offer"]
    rules = rules_of(7, spec)
    assert [(r.step, r.kind, r.source, r.event, r.exclusive) for r in rules] == [
        ("reminder", "event", "offer", "opened", "nudge"),
        ("nudge", "else", "offer", "opened", "reminder"),
    ]
    assert rules[1].wait == timedelta(days=3) and rules[1].channel == "sms"
    assert rules[0].cells == ("offer15", "offer20")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("else: nudge", "else: sms", "c.yaml:24:5 steps.1.else: no step called 'sms'"),
        (
            "else: nudge",
            "else: offer",
            "c.yaml:24:5 steps.1.else: 'offer' leads to 'reminder': a cycle",
        ),
        (
            "else: nudge",
            "else: reminder",
            "c.yaml:24:5 steps.1.else: 'reminder' leads to 'reminder'",
        ),
        (
            "    template: winback/nudge\n",
            "    template: winback/nudge\n    when: {after: offer, delay: 1d}\n",
            "c.yaml:24:5 steps.1.else: 'nudge' has its own `when`",
        ),
        (
            "when: {opened: offer, within: 3d}",
            "when: {after: offer, delay: 3d}",
            "c.yaml:24:5 steps.1.else: else: goes with an event trigger",
        ),
        (
            "offer20: {share: 45%, vars: {discount: 20}}",
            "offer20: {share: 45%, vars: {discount: 20}, steps: [offer, nudge]}",
            "c.yaml:11:64 groups.cells.offer20.steps.1: 'nudge' follows 'reminder', which cell offer20 does not get",
        ),
    ],
)
def test_else_mistakes_name_file_line_column_and_field(old: str, new: str, expected: str) -> None:
    assert old in ELSE
    found = violations(ELSE.replace(old, new))
    assert any(line.startswith(expected) for line in found), found


def test_absence_windows_start_at_the_previous_pass_less_the_lookback() -> None:
    spec = validate_campaign(GOOD, "c.yaml", TEMPLATES).spec
    reminder, nudge = rules_of(1, spec)
    minute = timedelta(minutes=1)
    first = send_window(nudge, T, None, minute)
    assert first.low is None and first.high == T - timedelta(days=3)
    again = send_window(nudge, T + minute, T, minute)
    assert again.low == T - timedelta(days=3) - minute
    assert again.high == T + minute - timedelta(days=3)
    assert send_window(reminder, T, T, minute).high == T


def test_expiry_reasons_to_the_second() -> None:
    expires = T + timedelta(minutes=20)
    assert expired_reason(None, T + timedelta(days=9), T + timedelta(days=9)) is None
    assert expired_reason(expires, expires - timedelta(seconds=1), T) is None
    assert expired_reason(expires, expires, expires) == "expired"
    assert expired_reason(expires, T, expires + timedelta(seconds=1)) == "expired_before_window"
    assert expired_reason(expires, T, expires) is None
