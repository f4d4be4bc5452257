"""The dashboard through Flask's test client, on both databases: login, CSRF, pages, charts."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from engine.bootstrap import Adapters
from engine.cli import cli
from engine.config import load_settings
from engine.settings import DashboardSettings, Settings
from engine.web.auth import check_login, token_user
from engine.web.charts import IntervalBar, Series, nice_ticks, rate_bars, step_lines

from .dashboard_data import (
    KEY,
    PASSWORD,
    REPORT_AT,
    TOKEN,
    USER,
    Launched,
    campaign_with_responses,
    dashboard_config,
)
from .web import Site, site_on

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.model_validate(
        {"imports": {"rejects_dir": str(tmp_path / "rejects")}, "dashboard": dashboard_config()}
    )


@pytest.fixture
def site(adapters: Adapters) -> Site:
    return site_on(adapters, REPORT_AT)


@pytest.fixture
def launched(adapters: Adapters) -> Launched:
    return campaign_with_responses(adapters)


def csrf(client: FlaskClient, path: str = "/dashboard/login") -> str:
    """The CSRF token in the form of the page at `path`."""
    html = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def log_in(client: FlaskClient, password: str = PASSWORD) -> int:
    token = csrf(client)
    answer = client.post(
        "/dashboard/login", data={"name": USER, "password": password, "csrf_token": token}
    )
    return answer.status_code


def pages(launched: Launched) -> list[str]:
    return [
        "/dashboard/",
        f"/dashboard/campaigns/{KEY}",
        "/dashboard/customers",
        f"/dashboard/customers?q={launched.email}",
        f"/dashboard/customers/{launched.customer_id}",
        "/dashboard/alerts",
    ]


def test_every_page_needs_a_login_and_shows_no_personal_data_without(
    site: Site, launched: Launched
) -> None:
    for path in pages(launched):
        answer = site.client.get(path)
        assert answer.status_code == 302, path
        assert answer.headers["Location"].startswith("/dashboard/login?next=")
        assert launched.email not in answer.get_data(as_text=True)
        api = site.client.get(path, headers={"Accept": "application/json"})
        assert api.status_code == 401 and api.json == {"error": "login required"}
    assert site.client.get("/dashboard/campaigns.json").status_code == 401
    login_page = site.client.get("/dashboard/login").get_data(as_text=True)
    assert launched.email not in login_page and "mail-test" not in login_page


def test_after_login_every_page_answers_200_and_logout_ends_it(
    site: Site, launched: Launched
) -> None:
    assert log_in(site.client) == 303
    for path in pages(launched):
        answer = site.client.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["Cache-Control"] == "no-store"
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    customer = site.client.get(f"/dashboard/customers/{launched.customer_id}").get_data(
        as_text=True
    )
    assert launched.email in customer and "mail-test" in customer and "purchase" in customer
    assert "granted" in customer and "delivered" in customer
    assert site.client.get("/dashboard/customers/999999").status_code == 404
    assert site.client.get("/dashboard/campaigns/no-such").status_code == 404
    token = csrf(site.client, "/dashboard/")
    out = site.client.post("/dashboard/logout", data={"csrf_token": token})
    assert out.status_code == 303
    assert site.client.get("/dashboard/").status_code == 302


def test_the_login_goes_back_to_the_page_asked_for_but_never_off_site(site: Site) -> None:
    token = csrf(site.client)
    form = {"name": USER, "password": PASSWORD, "csrf_token": token}
    back = site.client.post("/dashboard/login", data=form | {"next": "/dashboard/alerts"})
    assert back.headers["Location"] == "/dashboard/alerts"
    site.client.post("/dashboard/logout", data={"csrf_token": csrf(site.client, "/dashboard/")})
    token = csrf(site.client)
    away = site.client.post(
        "/dashboard/login", data=form | {"csrf_token": token, "next": "//evil.example/x"}
    )
    assert away.headers["Location"] == "/dashboard/"


def test_a_wrong_password_or_unknown_user_is_refused(site: Site) -> None:
    assert log_in(site.client, "wrong password") == 401
    assert site.client.get("/dashboard/").status_code == 302
    token = csrf(site.client)
    nobody = site.client.post(
        "/dashboard/login", data={"name": "mallory", "password": PASSWORD, "csrf_token": token}
    )
    assert nobody.status_code == 401 and "Wrong name or password" in nobody.get_data(as_text=True)


def test_a_post_without_the_session_csrf_token_is_refused(site: Site) -> None:
    site.client.get("/dashboard/login")
    form = {"name": USER, "password": PASSWORD}
    assert site.client.post("/dashboard/login", data=form).status_code == 400
    assert (
        site.client.post("/dashboard/login", data=form | {"csrf_token": "x" * 43}).status_code
        == 400
    )
    assert site.client.get("/dashboard/").status_code == 302  # not logged in
    assert log_in(site.client) == 303
    assert site.client.post("/dashboard/logout").status_code == 400  # a cross-site form
    assert site.client.get("/dashboard/").status_code == 200  # still logged in


def test_a_bearer_token_reads_the_json_and_a_wrong_one_gets_401(
    site: Site, launched: Launched
) -> None:
    good = site.client.get(
        "/dashboard/campaigns.json", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert good.status_code == 200
    (row,) = good.json["campaigns"]
    assert row["key"] == KEY and row["assigned"] == 60 and row["responders"] > 0
    bad = site.client.get("/dashboard/campaigns.json", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and "Bearer" in bad.headers["WWW-Authenticate"]


def test_the_session_cookie_is_httponly_samesite_lax_and_secure_when_configured(
    adapters: Adapters, tmp_path: Path
) -> None:
    from engine.web import create_app

    settings = Settings.model_validate({"dashboard": dashboard_config(secure=True)})
    app = create_app(settings, adapters=adapters)
    client = app.test_client()
    cookie = client.get("/dashboard/login").headers["Set-Cookie"]
    assert "engine_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_tracking_and_webhook_endpoints_stay_outside_the_login(site: Site) -> None:
    assert site.client.get("/t/o/not-a-token").status_code == 200  # the pixel, always
    assert site.client.get("/u/not-a-token").status_code == 404  # no redirect to a login


def test_the_campaign_page_shows_lift_intervals_funnel_cost_and_two_charts(
    site: Site, launched: Launched
) -> None:
    log_in(site.client)
    html = site.client.get(f"/dashboard/campaigns/{KEY}").get_data(as_text=True)
    for text in (
        "Lift against control",
        "Holm p",
        "95% interval",
        "Funnel per step",
        "ROI",
        "offer",
    ):
        assert text in html
    charts = re.findall(r"<svg class=\"chart\".*?</svg>", html, re.S)
    assert len(charts) == 2
    bars, curves = (ET.fromstring(chart) for chart in charts)
    assert len(bars.findall(f"{SVG}rect[@class='bar']")) == 2  # a and control
    assert len(bars.findall(f"{SVG}path[@class='interval']")) == 2
    lines = curves.findall(f"{SVG}path[@class='line']")
    assert len(lines) == 2 and all(len(line.get("d", "")) > 20 for line in lines)


def test_rate_bars_draw_each_rate_and_its_interval_to_scale_and_escape_labels() -> None:
    svg = ET.fromstring(
        rate_bars(
            [IntervalBar("<a>", 0.1, 0.05, 0.2), IntervalBar("control", 0.05, 0.02, 0.1, True)],
            title="Rates & intervals",
        )
    )
    first, second = svg.findall(f"{SVG}rect[@class='bar']")
    assert float(first.get("height", 0)) == pytest.approx(2 * float(second.get("height", 0)))
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "<a>" in texts and "10%" in texts and "5%" in texts  # escaped, parsed back
    assert svg.find(f"{SVG}title").text == "Rates & intervals"  # type: ignore[union-attr]
    whisker = svg.findall(f"{SVG}path[@class='interval']")[0].get("d", "")
    low, high = (float(v) for v in re.match(r"M[\d.]+,([\d.]+)V([\d.]+)", whisker).groups())  # type: ignore[union-attr]
    top = float(first.get("y", 0))
    assert low > top > high  # the interval spans the bar's top (y grows downwards)
    assert low - top == pytest.approx((top - high) / 2)  # 5% below, 10% above the 10%
    assert second.get("fill") == "#8c8c8c"  # the control in grey


def test_step_lines_climb_at_each_point_and_label_the_days() -> None:
    chart = step_lines(
        [Series("a", ((0, 0), (1, 0.1), (2, 0.3))), Series("control", ((0, 0), (2, 0.1)), True)],
        title="Cumulative",
        x_ticks=[(0, "Nov 05"), (2, "Nov 07")],
    )
    svg = ET.fromstring(chart)
    first = svg.findall(f"{SVG}path[@class='line']")[0].get("d", "")
    assert first.count("V") == 2 and first.count("H") == 3  # two steps, then flat to the end
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert {"Nov 05", "Nov 07", "a", "control", "30%"} <= set(texts)


def test_nice_ticks_cover_the_highest_value_in_round_steps() -> None:
    assert nice_ticks(0.23) == pytest.approx([0, 0.05, 0.1, 0.15, 0.2, 0.25])
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(0) == [0.0, 1.0]


def test_dashboard_user_prints_a_hash_and_a_token_digest_that_work() -> None:
    runner = CliRunner()
    typed = "a long password\na long password\n"
    made = runner.invoke(cli, ["dashboard-user", "bo"], input=typed)
    assert made.exit_code == 0, made.output
    name, _, quoted = made.output.strip().splitlines()[-1].strip().partition(": ")
    users = DashboardSettings(users={name: quoted.strip('"')})
    assert check_login(users, "bo", "a long password")
    assert not check_login(users, "bo", "another password")
    assert "a long password" not in made.output.replace(typed, "")
    short = runner.invoke(cli, ["dashboard-user", "bo"], input="short\nshort\n")
    assert short.exit_code != 0
    token = runner.invoke(cli, ["dashboard-user", "ci", "--token"])
    secret = token.stderr.strip().rsplit(" ", 1)[-1]
    digest = token.stdout.strip().splitlines()[-1].split(": ")[1].strip('"')
    tokens = DashboardSettings(tokens={"ci": digest})
    assert token_user(tokens, f"Bearer {secret}") == "ci" and token_user(tokens, "Bearer x") is None


def test_the_shipped_config_has_the_documented_demo_user() -> None:
    settings = load_settings(Path(__file__).parent.parent / "config.yaml", {})
    assert check_login(settings.dashboard, "demo", "demo-dashboard")
    assert settings.dashboard.session_cookie_secure and settings.dashboard.secret_key is None
