"""Message templates: the Jinja2 adapter, the e-mail layout, SMS length rules."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from engine.core.customers import PROFILE_FIELDS
from engine.core.messages import Rendered, SmsLength, sms_length
from engine.errors import TemplateError
from engine.render import RECHECK_SECONDS, TemplateRenderer
from engine.settings import SenderSettings

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
SENDER = SenderSettings(
    name="Example Shop",
    email="news@shop.example",
    postal_address="1 Example Road, Shanghai 200000, China",
    public_url="https://shop.example",
)


MEI = {"first_name": "Mei", "last_name": "Chen", "email": "mei.chen@example.com"}
MEI |= {"phone": "+8613800138000", "address_line1": "88 West Lake Road", "postal_code": "310000"}
MEI |= {"city": "Hangzhou", "country": "CN", "language": "en"}
METRICS = {"recency_days": 412, "frequency": 3, "monetary": "1234.50", "avg_order": "411.50"}
METRICS |= {"rfm_segment": "at_risk", "lifecycle": "lapsed", "value_tier": "medium"}


def variables(**vars: Any) -> dict[str, Any]:
    """What the engine passes for one customer, with `vars` as given."""
    sender = {"name": SENDER.name, "email": SENDER.email, "postal_address": SENDER.postal_address}
    return {
        "customer": dict.fromkeys(PROFILE_FIELDS) | MEI,
        "metrics": dict(METRICS),
        "campaign": {"key": "spring-2026", "name": "Spring 2026"},
        "cell": "A",
        "vars": vars,
        "response_code": "SPR-7K3QX9",
        "sender": sender,
        "unsubscribe_url": "https://shop.example/u/tok123",
    }


@pytest.fixture
def real() -> TemplateRenderer:
    return TemplateRenderer(TEMPLATES, SENDER)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A template root holding the engine's real e-mail layouts."""
    (tmp_path / "email").mkdir()
    for layout in ("_layout.html", "_layout.txt"):
        (tmp_path / "email" / layout).write_text((TEMPLATES / "email" / layout).read_text())
    return tmp_path


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def write_email(root: Path, name: str, subject: str, html: str, text: str) -> None:
    for suffix, source in ((".subject.txt", subject), (".html", html), (".txt", text)):
        write(root, f"email/{name}{suffix}", source)


def render(root: Path, channel: str, name: str, values: dict[str, Any]) -> Rendered:
    return TemplateRenderer(root, SENDER).render(channel, name, values)


# --- the example templates -------------------------------------------------

EXAMPLES = [
    ("email", "spring/offer", {"headline": "Fresh for spring", "discount": 15}),
    ("sms", "flash/sale", {"discount": 20}),
    ("mail", "catalog/winter", {"offer": "Save 100 yuan on any order over 500 yuan."}),
    ("email", "winback/offer", {"discount": 20}),
    ("email", "winback/reminder", {"discount": 20}),
    ("sms", "winback/nudge", {"discount": 20}),
    ("call", "winback/script", {"discount": 20}),
]


@pytest.mark.parametrize(("channel", "name", "vars"), EXAMPLES)
def test_every_example_template_renders(
    real: TemplateRenderer, channel: str, name: str, vars: dict[str, Any]
) -> None:
    assert real.missing(channel, name) == []
    rendered = real.render(channel, name, variables(**vars))
    assert rendered.channel == channel
    assert "SPR-7K3QX9" in rendered.text
    assert "None" not in rendered.text
    if channel == "email":
        assert rendered.subject and "\n" not in rendered.subject
        assert rendered.html and "https://shop.example/u/tok123" in rendered.html
    if channel == "sms":
        assert sms_length(rendered.text) == SmsLength("GSM-7", len(rendered.text), 1)
        assert rendered.text.endswith("Reply STOP to opt out")


@pytest.mark.parametrize(("channel", "name", "vars"), EXAMPLES)
def test_examples_render_for_a_customer_without_profile_values(
    real: TemplateRenderer, channel: str, name: str, vars: dict[str, Any]
) -> None:
    values = variables(**vars)
    values["customer"] = dict.fromkeys(values["customer"])
    values["metrics"] = {**dict.fromkeys(values["metrics"]), "lifecycle": "prospect"}
    rendered = real.render(channel, name, values)
    assert "None" not in rendered.text


def test_spring_offer_carries_the_cell_headline_and_discount(real: TemplateRenderer) -> None:
    rendered = real.render("email", "spring/offer", variables(headline="Hello spring", discount=15))
    assert rendered.subject == "Hello spring – 15% off our spring collection"
    assert rendered.html is not None and "Hello spring" in rendered.html
    assert "15%" in rendered.text and "Hello Mei," in rendered.text


def test_winter_letter_prints_address_offer_and_code(real: TemplateRenderer) -> None:
    rendered = real.render("mail", "catalog/winter", variables(offer="Free delivery all winter."))
    assert rendered.html is not None and rendered.html.startswith("<!DOCTYPE html>")
    for expected in (
        "Mei Chen",
        "88 West Lake Road",
        "310000 Hangzhou",
        "Free delivery all winter.",
    ):
        assert expected in rendered.text
    assert "Your code: SPR-7K3QX9" in rendered.text
    assert "<" not in rendered.text and "  " not in rendered.text


def test_call_script_follows_the_lifecycle(real: TemplateRenderer) -> None:
    lapsed = real.render("call", "winback/script", variables(discount=20))
    values = variables(discount=20)
    values["metrics"]["lifecycle"] = "at_risk"
    at_risk = real.render("call", "winback/script", values)
    assert "quite a while" in lapsed.text and "Customer stage: lapsed" in lapsed.text
    assert "a few months" in at_risk.text and "Customer stage: at risk" in at_risk.text


# --- channels and the e-mail layout ------------------------------------------


def test_email_layout_adds_unsubscribe_link_and_postal_address(root: Path) -> None:
    name = "{{ customer.first_name }}"
    write_email(
        root, "news", f"  Hello\n {name}  \n", f"<p>Body for {name}</p>", f"Body for {name}"
    )
    rendered = render(root, "email", "news", variables())
    assert rendered.subject == "Hello Mei"
    assert rendered.html is not None
    assert "<p>Body for Mei</p>" in rendered.html  # the body is not escaped twice
    assert '<a href="https://shop.example/u/tok123"' in rendered.html
    assert SENDER.postal_address in rendered.html
    assert rendered.text.startswith("Body for Mei")
    assert "https://shop.example/u/tok123" in rendered.text
    assert SENDER.postal_address in rendered.text


def test_layout_renders_without_an_unsubscribe_url_or_sender(root: Path) -> None:
    write_email(root, "news", "Hi", "<p>Hi</p>", "Hi")
    values = variables()
    del values["unsubscribe_url"], values["sender"]
    rendered = render(root, "email", "news", values)
    assert "https://shop.example/u/preview" in rendered.text
    assert rendered.html is not None and SENDER.postal_address in rendered.html


def test_html_is_escaped_and_text_is_not(root: Path) -> None:
    name = "{{ customer.first_name }}"
    write_email(root, "news", f"For {name}", f"<p>Dear {name}</p>", f"Dear {name}")
    values = variables()
    values["customer"]["first_name"] = "<b>Bob</b>"
    rendered = render(root, "email", "news", values)
    assert rendered.html is not None
    assert "Dear &lt;b&gt;Bob&lt;/b&gt;" in rendered.html and "<b>Bob</b>" not in rendered.html
    assert "Dear <b>Bob</b>" in rendered.text
    assert rendered.subject == "For <b>Bob</b>"


def test_mail_text_is_the_letter_without_tags(root: Path) -> None:
    write(
        root,
        "mail/letter.html",
        "<html><head><style>p {}</style></head>\n<p>Dear {{ customer.first_name }},</p><p>a &amp; b</p></html>",
    )
    rendered = render(root, "mail", "letter", variables())
    assert rendered == Rendered(
        "mail",
        "Dear Mei, a & b",
        html=(root / "mail/letter.html").read_text().replace("{{ customer.first_name }}", "Mei"),
    )


def test_call_script_is_trimmed_text(root: Path) -> None:
    write(root, "call/script.txt", "\nHello {{ customer.first_name }}.\n\n")
    assert render(root, "call", "script", variables()) == Rendered("call", "Hello Mei.")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Sale today!", "Sale today! Reply STOP to opt out"),
        ("  Sale today! Text stop to end.  \n", "Sale today! Text stop to end."),
        ("Sale today! STOP=end", "Sale today! STOP=end"),
        ("Unstoppable sale!", "Unstoppable sale! Reply STOP to opt out"),
        ("", "Reply STOP to opt out"),
    ],
)
def test_sms_opt_out_hint_is_appended_only_when_absent(
    root: Path, body: str, expected: str
) -> None:
    write(root, "sms/sale.txt", body)
    assert render(root, "sms", "sale", variables()) == Rendered("sms", expected)


@pytest.mark.parametrize(
    ("channel", "name", "problem"),
    [("fax", "x", "unknown channel 'fax'")]
    + [("sms", name, "invalid template name") for name in ("../x", "/etc/x", "a/./b", "", "a\\b")],
)
def test_unknown_channels_and_names_outside_the_root_are_refused(
    root: Path, channel: str, name: str, problem: str
) -> None:
    renderer = TemplateRenderer(root, SENDER)
    with pytest.raises(TemplateError, match=problem):
        renderer.missing(channel, name)
    with pytest.raises(TemplateError, match=problem):
        renderer.render(channel, name, variables())


# --- problems become TemplateError -------------------------------------------


def test_missing_files_are_listed(root: Path) -> None:
    write(root, "email/news.html", "<p>Hi</p>")
    (root / "email" / "_layout.txt").unlink()
    renderer = TemplateRenderer(root, SENDER)
    assert renderer.missing("email", "news") == [
        "email/news.subject.txt",
        "email/news.txt",
        "email/_layout.txt",
    ]
    assert renderer.missing("sms", "nope") == ["sms/nope.txt"]
    with pytest.raises(
        TemplateError, match=r"missing .*email/news\.subject\.txt, .*email/news\.txt"
    ):
        renderer.render("email", "news", variables())


def test_undefined_variable_names_file_and_line(root: Path) -> None:
    write_email(root, "spring/offer", "Hi", "<p>Hi</p>\n\n<h1>{{ vars.headline }}</h1>\n", "Hi")
    with pytest.raises(TemplateError) as caught:
        render(root, "email", "spring/offer", variables(discount=10))
    assert str(caught.value) == (
        f"{root}/email/spring/offer.html:3: 'dict object' has no attribute 'headline'"
    )


def test_undefined_name_in_a_loop_under_a_relative_root(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        root,
        "sms/x.txt",
        "{% if customer %}\n{% for i in [1] %}\n{{ nobody }}{% endfor %}{% endif %}",
    )
    monkeypatch.chdir(root.parent)
    with pytest.raises(TemplateError, match=rf"^{root.name}/sms/x\.txt:3: 'nobody' is undefined$"):
        render(Path(root.name), "sms", "x", variables())


def test_syntax_error_names_file_and_line(root: Path) -> None:
    write(root, "call/bad.txt", "Hello\n\n{{ customer.first_name }\nBye")
    with pytest.raises(
        TemplateError, match=rf"^{re.escape(str(root))}/call/bad\.txt:3: syntax error: "
    ):
        render(root, "call", "bad", variables())


def test_a_type_error_in_a_template_is_a_template_error(root: Path) -> None:
    write(root, "sms/sum.txt", "x\n{{ vars.discount + 'percent' }}")
    with pytest.raises(TemplateError, match=r"sms/sum\.txt:2: TypeError: "):
        render(root, "sms", "sum", variables(discount=10))


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{% set _ = vars.update({'x': 1}) %}",
    ],
)
def test_the_sandbox_blocks_python_internals(root: Path, source: str) -> None:
    write(root, "sms/evil.txt", source)
    values = variables()
    with pytest.raises(TemplateError, match=r"sms/evil\.txt:1: .*unsafe"):
        render(root, "sms", "evil", values)
    assert values["vars"] == {}


def test_nothing_is_read_until_rendering(tmp_path: Path) -> None:
    renderer = TemplateRenderer(tmp_path / "not-yet", SENDER)
    write(tmp_path, "not-yet/sms/late.txt", "Late STOP")
    assert renderer.render("sms", "late", variables()).text == "Late STOP"


# --- the compiled-template cache ---------------------------------------------


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_an_edited_template_is_used_once_the_recheck_interval_has_passed(tmp_path: Path) -> None:
    clock = Clock()
    renderer = TemplateRenderer(tmp_path, SENDER, clock)
    write(tmp_path, "sms/edit.txt", "First STOP")
    assert renderer.render("sms", "edit", variables()).text == "First STOP"
    write(tmp_path, "sms/edit.txt", "Second text STOP")
    clock.now += RECHECK_SECONDS / 2  # within the interval: no stat, the compiled one
    assert renderer.render("sms", "edit", variables()).text == "First STOP"
    clock.now += RECHECK_SECONDS
    assert renderer.render("sms", "edit", variables()).text == "Second text STOP"


def test_a_deleted_template_fails_once_the_recheck_interval_has_passed(tmp_path: Path) -> None:
    clock = Clock()
    renderer = TemplateRenderer(tmp_path, SENDER, clock)
    write(tmp_path, "sms/gone.txt", "Here STOP")
    assert renderer.render("sms", "gone", variables()).text == "Here STOP"
    (tmp_path / "sms" / "gone.txt").unlink()
    clock.now += RECHECK_SECONDS
    with pytest.raises(TemplateError, match="template not found"):
        renderer.render("sms", "gone", variables())


def test_each_file_is_checked_on_its_own_schedule(root: Path) -> None:
    clock = Clock()
    renderer = TemplateRenderer(root, SENDER, clock)
    write_email(root, "news", "Hi", "<p>Body one</p>", "Body one")
    assert "Body one" in (renderer.render("email", "news", variables()).html or "")
    write(root, "email/news.html", "<p>Body two</p>")
    clock.now += RECHECK_SECONDS
    write(root, "sms/other.txt", "Other STOP")
    renderer.render("sms", "other", variables())  # a fresh file is read at once
    assert "Body two" in (renderer.render("email", "news", variables()).html or "")


# --- SMS length ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "segments"),
    [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm_segments(length: int, segments: int) -> None:
    assert sms_length("a" * length) == SmsLength("GSM-7", length, segments)


def test_gsm_alphabet_includes_accents_greek_and_newlines() -> None:
    text = "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\r\n"
    assert sms_length(text) == SmsLength("GSM-7", len(text), 1)


@pytest.mark.parametrize("char", list("€[]{}^~\\|\f"))
def test_extension_characters_count_twice(char: str) -> None:
    assert sms_length(char) == SmsLength("GSM-7", 2, 1)
    assert sms_length(char + "a" * 158) == SmsLength("GSM-7", 160, 1)
    assert sms_length(char + "a" * 159) == SmsLength("GSM-7", 161, 2)


def test_an_extension_character_is_not_split_across_segments() -> None:
    # 152 septets, then ESC+€ would straddle the boundary: it moves to segment 2.
    text = "a" * 152 + "€" + "a" * 152
    assert sms_length(text) == SmsLength("GSM-7", 306, 3)
    assert sms_length("a" * 151 + "€" + "a" * 153) == SmsLength("GSM-7", 306, 2)


@pytest.mark.parametrize("first", ["家", "’", "😀"])
@pytest.mark.parametrize(("units", "segments"), [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_one_non_gsm_character_switches_to_ucs2(first: str, units: int, segments: int) -> None:
    width = len(first.encode("utf-16-le")) // 2
    text = first + "a" * (units - width)
    assert sms_length(text) == SmsLength("UCS-2", units, segments)


def test_chinese_text_is_counted_in_utf16_units() -> None:
    assert sms_length("春季新品八五折") == SmsLength("UCS-2", 7, 1)
    assert sms_length("😀" * 35) == SmsLength("UCS-2", 70, 1)
    assert sms_length("😀" * 36) == SmsLength("UCS-2", 72, 2)
    # 33 pairs fill 66 of a segment's 67 units; the 34th moves on.
    assert sms_length("😀" * 67) == SmsLength("UCS-2", 134, 3)
