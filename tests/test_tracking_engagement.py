"""The pure decisions of the tracking endpoints: machine opens and masked addresses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.core.tracking.engagement import Hit, machine_reason, mask_address

OPEN = datetime(2026, 11, 5, 2, 0, tzinfo=UTC)
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36"
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


@pytest.mark.parametrize(
    ("agent", "head", "seconds", "reason"),
    [
        ("Mozilla/5.0", False, 3600, "apple_mpp"),
        ("", False, 3600, "no_user_agent"),
        ("Mozilla/5.0 (compatible; Barracuda Sentinel)", False, 3600, "scanner"),
        ("python-requests/2.32", False, 3600, "scanner"),
        (BROWSER, True, 3600, "head_request"),
        (BROWSER, False, 9, "too_soon"),
        (GMAIL, False, 9, "too_soon"),
        (BROWSER, False, 10, None),
        (GMAIL, False, 3600, None),  # Gmail's proxy fetches when a person opens
        (
            "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
            False,
            60,
            None,
        ),
    ],
)
def test_machine_opens_by_agent_method_and_time(
    agent: str, head: bool, seconds: int, reason: str | None
) -> None:
    assert machine_reason(Hit(OPEN + timedelta(seconds=seconds), agent, head), OPEN) == reason
    assert machine_reason(Hit(OPEN, BROWSER), None) is None  # no sent_at: not judged by time


def test_masked_addresses_keep_only_the_first_character_and_the_domain() -> None:
    assert mask_address("paula@example.com") == "p•••@example.com"
    assert mask_address("a@b@example.com") == "a•••@example.com"
    assert mask_address("no-at-sign") == "•••" and mask_address(None) == ""
