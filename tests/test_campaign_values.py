"""The small languages of campaign files and the plan's arithmetic (pure core)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from engine.core.campaign.preview import first_send, minimum_detectable_lift
from engine.core.campaign.spec import Windows
from engine.core.campaign.values import (
    Moment,
    format_duration,
    parse_duration,
    parse_hours,
    parse_moment,
    parse_share,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20m", timedelta(minutes=20)),
        ("12h", timedelta(hours=12)),
        ("3d", timedelta(days=3)),
        ("2w", timedelta(weeks=2)),
        (" 1 d ", timedelta(days=1)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("bad", ["20", 20, "3 days", "1y", "-1d", None])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="expected a duration like 20m"):
        parse_duration(bad)


def test_shares_are_exact() -> None:
    assert parse_share("10%") == Decimal("0.1")
    assert parse_share(0.45) == Decimal("0.45")
    assert parse_share("33.3%") + parse_share("66.7%") == 1
    for bad in ("110%", -0.1, "ten", True):
        with pytest.raises(ValueError):
            parse_share(bad)


def test_moments_resolve_against_now_in_the_campaign_timezone() -> None:
    now = datetime(2026, 11, 1, 20, 0, tzinfo=UTC)  # 04:00 on 2 November in Shanghai
    assert parse_moment("90 days ago").resolve(now, SHANGHAI) == now - timedelta(days=90)
    assert parse_moment("1 week ago").resolve(now, SHANGHAI) == now - timedelta(weeks=1)
    assert parse_moment("now").resolve(now, SHANGHAI) == now
    assert parse_moment("today").resolve(now, SHANGHAI) == datetime(2026, 11, 1, 16, 0, tzinfo=UTC)
    assert parse_moment(date(2026, 1, 1)) == Moment(at=datetime(2026, 1, 1))
    assert parse_moment("2026-01-01 08:00").resolve(now, SHANGHAI) == datetime(
        2026, 1, 1, 0, 0, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="90 days ago"):
        parse_moment("last tuesday")


def test_hours() -> None:
    assert parse_hours("09:00-20:00") == (time(9), time(20))
    for bad in ("20:00-09:00", "9-20", "25:00-26:00"):
        with pytest.raises(ValueError):
            parse_hours(bad)


def test_first_send_waits_for_the_next_window() -> None:
    windows = Windows(days=["wed", "thu"], hours=(time(10), time(16)))
    wed = datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI)
    assert first_send(datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI), windows) == wed
    assert first_send(datetime(2026, 12, 2, 12, 30, tzinfo=SHANGHAI), windows) == wed.replace(
        hour=12, minute=30
    )
    assert first_send(datetime(2026, 12, 2, 16, 0, tzinfo=SHANGHAI), windows) == wed + timedelta(
        days=1
    )
    assert first_send(datetime(2026, 12, 4, 9, 0, tzinfo=SHANGHAI), windows) == wed + timedelta(
        days=7
    )


def test_minimum_detectable_lift_matches_the_textbook_formula() -> None:
    # (z_0.975 + z_0.8) * sqrt(p (1 - p) (1/n1 + 1/n2)) with the tabulated quantiles
    z = 1.959963984540054 + 0.8416212335729143
    expected = z * (0.05 * 0.95 * (1 / 1000 + 1 / 9000)) ** 0.5
    assert minimum_detectable_lift(0.05, 1000, 9000) == pytest.approx(expected, rel=1e-12)
    assert minimum_detectable_lift(0.0, 1000, 9000) is None
    assert minimum_detectable_lift(0.05, 0, 9000) is None
