"""The dashboard in a real browser: headless Chromium (Debian's) driven by Playwright.

A real server (werkzeug on 127.0.0.1, in a thread) over a database with a
launched campaign and responses: log in through the form, open the
campaign, check that both charts rendered as SVG with bars and lines, save
a screenshot, and see a logged-out browser sent to the login page.

Chromium is /usr/bin/chromium (`make test` installs it when missing and
running as root). Without it the test skips, or fails when
ENGINE_REQUIRE_BROWSER=1 (set by .ci/run). Set ENGINE_SCREENSHOT=docs/dashboard.png
to refresh the README's screenshot.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from engine.bootstrap import Adapters
from engine.settings import Settings
from engine.web import create_app

from .dashboard_data import (
    KEY,
    PASSWORD,
    REPORT_AT,
    USER,
    campaign_with_responses,
    dashboard_config,
)
from .fakes import FakeClock

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.model_validate(
        {"imports": {"rejects_dir": str(tmp_path / "rejects")}, "dashboard": dashboard_config()}
    )


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium; skipped (or failed under ENGINE_REQUIRE_BROWSER=1) when it cannot run."""
    try:
        from playwright.sync_api import sync_playwright

        playwright = sync_playwright().start()
    except Exception as exc:  # not installed, or no event loop
        _unavailable(f"Playwright cannot start: {exc}")
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    except Exception as exc:  # missing binary, missing libraries
        playwright.stop()
        _unavailable(f"Chromium cannot run from {CHROMIUM}: {exc}")
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()


def _unavailable(problem: str) -> None:
    if os.environ.get("ENGINE_REQUIRE_BROWSER") == "1":
        pytest.fail(problem + " (ENGINE_REQUIRE_BROWSER=1)")
    pytest.skip(problem)


@pytest.fixture
def server(adapters: Adapters) -> Iterator[str]:
    """The web app on a free port of 127.0.0.1; yields its base URL."""
    app = create_app(adapters=adapters, clock=FakeClock(REPORT_AT))
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join()


def test_a_user_logs_in_and_sees_the_campaign_charts(
    adapters: Adapters, server: str, browser: Any, tmp_path: Path
) -> None:
    campaign_with_responses(adapters, 400)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{server}/dashboard/campaigns/{KEY}")
    assert page.url.startswith(f"{server}/dashboard/login")  # sent to log in first
    page.fill("input[name=name]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/dashboard/campaigns/{KEY}")  # and back to the campaign
    assert "Lift against control" in page.content()
    charts = page.locator("svg.chart")
    assert charts.count() == 2
    bars = page.locator("svg.chart rect.bar")
    assert bars.count() == 2 and all(
        float(bars.nth(i).get_attribute("height") or 0) > 0 for i in range(2)
    )
    assert page.locator("svg.chart path.interval").count() == 2
    lines = page.locator("svg.chart path.line")
    assert lines.count() == 2 and "V" in (lines.first.get_attribute("d") or "")
    box = charts.first.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 150  # laid out, visible
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if target := os.environ.get("ENGINE_SCREENSHOT"):
        shutil.copy(shot, target)


def test_a_logged_out_browser_gets_the_login_page_and_no_figures(
    adapters: Adapters, server: str, browser: Any
) -> None:
    launched = campaign_with_responses(adapters)
    page = browser.new_page()
    answer = page.goto(f"{server}/dashboard/customers/{launched.customer_id}")
    assert answer is not None and answer.ok  # the login page, after the redirect
    assert "/dashboard/login" in page.url
    assert launched.email not in page.content()
    api = page.request.get(f"{server}/dashboard/campaigns.json")
    assert api.status == 401
