"""`validate_campaign`: every kind of violation, each with file, line, column and path."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import InvalidDocument
from engine.render import TemplateRenderer
from engine.services.validation import validate_campaign
from engine.settings import SenderSettings

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = TemplateRenderer(ROOT / "templates", SenderSettings())

GOOD = """\
key: winback-test
name: Win-back
audience:
  segment:
    all:
      - lifecycle: {in: [at_risk, lapsed]}
groups:
  control: 10%
  cells:
    offer15: {share: 45%, vars: {discount: 15}}
    offer20: {share: 45%, vars: {discount: 20}}
schedule:
  start: 2026-12-02 10:00
  timezone: Asia/Shanghai
  windows: {days: [wed], hours: "10:00-16:00"}
steps:
  - id: offer
    channel: email
    template: winback/offer
  - id: reminder
    channel: email
    template: winback/reminder
    when: {opened: offer, within: 20m}
  - id: nudge
    channel: sms
    template: winback/nudge
    when: {not_opened: offer, after: 3d}
costs: {email: 0.001, sms: 0.05}
"""


def violations(text: str) -> list[str]:
    with pytest.raises(InvalidDocument) as caught:
        validate_campaign(text, "c.yaml", TEMPLATES)
    return list(caught.value.violations)


def edit(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


def test_a_good_campaign_validates() -> None:
    checked = validate_campaign(GOOD, "c.yaml", TEMPLATES)
    assert checked.spec.key == "winback-test"
    assert [step.id for step in checked.spec.first_steps()] == ["offer"]
    assert checked.warnings == ()


@pytest.mark.parametrize("path", sorted((ROOT / "campaigns").glob("*.yaml")), ids=lambda p: p.name)
def test_the_example_campaigns_validate(path: Path) -> None:
    assert validate_campaign(path.read_text(), str(path), TEMPLATES).spec.key


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "offer20: {share: 45%",
            "offer20: {share: 55%",
            "c.yaml:11:15 groups.cells.offer20.share: shares add up to 110%",
        ),
        (
            "control: 10%",
            "control: lots",
            "c.yaml:8:3 groups.control: expected a share like 10% or 0.1, got 'lots'",
        ),
        (
            "within: 20m",
            "within: 20",
            "c.yaml:23:27 steps.1.when.within: expected a duration like 20m, 12h, 3d or 2w, got 20",
        ),
        ("  - id: nudge", "  - id: offer", "c.yaml:24:5 steps.2.id: step id 'offer' is used twice"),
        (
            "not_opened: offer",
            "not_opened: nudge",
            "c.yaml:27:12 steps.2.when.not_opened: refers to 'nudge', which is not an earlier step",
        ),
        (
            "{opened: offer, within: 20m}",
            "{after_entry: 2d}",
            "c.yaml:23:12 steps.1.when.after_entry: after_entry needs an entry: block (trigger campaign)",
        ),
        (
            "{opened: offer, within: 20m}",
            "{opened: offer, clicked: offer, within: 20m}",
            "c.yaml:23:5 steps.1.when: name exactly one event of delivered, opened, clicked, replied, responded, bounced",
        ),
        (
            "channel: sms",
            "channel: fax",
            "c.yaml:24:5 steps.2: channel must be one of email, sms, mail, call",
        ),
        (
            "template: winback/nudge",
            "template: winback/nope",
            "c.yaml:26:5 steps.2.template: missing template file(s): sms/winback/nope.txt",
        ),
        (
            "timezone: Asia/Shanghai",
            "timezone: Mars/Olympus",
            "c.yaml:14:3 schedule.timezone: unknown IANA timezone 'Mars/Olympus'",
        ),
        (
            "days: [wed]",
            "days: [someday]",
            "c.yaml:15:20 schedule.windows.days.0: expected a weekday (mon, tue, wed, thu, fri, sat, sun), got 'someday'",
        ),
        (
            'hours: "10:00-16:00"',
            'hours: "16:00-10:00"',
            "c.yaml:15:26 schedule.windows.hours: the window must end after it starts: '16:00-10:00'",
        ),
        (
            "key: winback-test",
            "key: Winback Test",
            "c.yaml:1:1 key: String should match pattern '^[a-z0-9][a-z0-9_.-]{0,63}$'",
        ),
        (
            "name: Win-back\n",
            "name: Win-back\nbudget: 100\n",
            "c.yaml:3:1 budget: Extra inputs are not permitted",
        ),
        (
            "in: [at_risk, lapsed]",
            "in: [at_risk, lapsd]",
            "c.yaml:6:21 audience.segment.all.0.lifecycle.in: 'lapsd' is not one of prospect, new, active, at_risk, lapsed, lost",
        ),
        (
            "lifecycle: {in: [at_risk, lapsed]}",
            "frequency: {before: today}",
            "c.yaml:6:21 audience.segment.all.0.frequency.before: before does not apply to a number field; use between, eq, exists, gt, gte, in, lt, lte, ne, not_in",
        ),
        (
            "lifecycle: {in: [at_risk, lapsed]}",
            "frequency: {gte: many}",
            "c.yaml:6:21 audience.segment.all.0.frequency.gte: 'many' is not a number",
        ),
        (
            "lifecycle: {in: [at_risk, lapsed]}",
            "lifecyle: {in: [new]}",
            "c.yaml:6:9 audience.segment.all.0: unknown filter 'lifecyle'; allowed: all, any, none, source",
        ),
        (
            "vars: {discount: 20}",
            "vars: {percent: 20}",
            "c.yaml:19:5 steps.0.template: cell offer20: ",
        ),
        (
            "offer20: {share: 45%, vars: {discount: 20}}",
            "offer20: {share: 45%, vars: {discount: 20}, steps: [offer, nudge, call]}",
            "c.yaml:11:71 groups.cells.offer20.steps.2: no step called 'call'",
        ),
        (
            "offer20: {share: 45%, vars: {discount: 20}}",
            "offer20: {share: 45%, vars: {discount: 20}, steps: [nudge]}",
            "c.yaml:11:57 groups.cells.offer20.steps.0: 'nudge' follows 'offer', which cell offer20 does not get",
        ),
        (
            "    offer20: {share: 45%, vars: {discount: 20}}",
            "    control: {share: 45%}",
            "c.yaml:9:3 groups.cells: 'control' is the control group's name",
        ),
    ],
)
def test_each_violation_names_file_line_column_and_field(old: str, new: str, expected: str) -> None:
    found = violations(edit(old, new))
    assert any(line.startswith(expected) for line in found), found


def test_every_violation_is_reported_not_just_the_first() -> None:
    text = edit("offer20: {share: 45%", "offer20: {share: 55%").replace(
        "not_opened: offer", "not_opened: later"
    )
    found = violations(text.replace("in: [at_risk, lapsed]", "in: [at_risk, lapsd]"))
    assert [line.split(" ")[0] for line in found] == ["c.yaml:11:15", "c.yaml:27:12", "c.yaml:6:21"]


def test_an_undefined_template_variable_names_the_template_and_line() -> None:
    found = violations(edit("vars: {discount: 20}", "vars: {percent: 20}"))
    assert [line.split(": cell ")[0] for line in found] == [
        "c.yaml:19:5 steps.0.template",
        "c.yaml:22:5 steps.1.template",
        "c.yaml:26:5 steps.2.template",
    ]
    assert "email/winback/offer.subject.txt:1:" in found[0] and "'discount'" in found[0]


def test_yaml_syntax_errors_and_duplicate_keys_are_located() -> None:
    assert violations("key: a\nname: [unclosed\n")[0].startswith("c.yaml:3:1")
    (dup,) = violations(GOOD + "key: again\n")
    assert dup.startswith("c.yaml:") and "duplicate" in dup


def test_warnings_do_not_fail_the_campaign(tmp_path: Path) -> None:
    (tmp_path / "sms" / "long").mkdir(parents=True)
    (tmp_path / "sms" / "long" / "text.txt").write_text(
        "Hi {{ customer.first_name }}! " + "x" * 200
    )
    text = edit("control: 10%", "control: 0%").replace(
        "offer15: {share: 45%", "offer15: {share: 55%"
    )
    text = (
        text.replace("template: winback/nudge", "template: long/text")
        .replace("template: winback/offer", "template: long/text")
        .replace("channel: email\n    template: long/text", "channel: sms\n    template: long/text")
    )
    renderer = TemplateRenderer(ROOT / "templates", SenderSettings())
    renderer_long = TemplateRenderer(tmp_path, SenderSettings())
    (tmp_path / "email").mkdir()
    for name in ("winback/reminder.subject.txt", "winback/reminder.html", "winback/reminder.txt"):
        target = tmp_path / "email" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((ROOT / "templates" / "email" / name).read_text())
    for name in ("_layout.html", "_layout.txt"):
        (tmp_path / "email" / name).write_text((ROOT / "templates" / "email" / name).read_text())
    checked = validate_campaign(text, "c.yaml", renderer_long)
    assert renderer.missing("sms", "long/text") == ["sms/long/text.txt"]
    assert any("groups.control: no control group" in w for w in checked.warnings)
    assert any("steps.0.template: cell offer15: 2 SMS segments" in w for w in checked.warnings)
