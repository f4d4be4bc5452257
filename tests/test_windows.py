"""Send windows and quiet hours in the recipient's zone, to the minute, on DST days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.core.campaign.preview import first_send
from engine.core.campaign.spec import Windows
from engine.core.campaign.values import WEEKDAYS
from engine.core.sending.windows import (
    held_by,
    local_instant,
    next_allowed,
    quiet_hours_for,
    window_on,
)
from engine.settings import DispatchSettings

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")
EVERY_DAY = WEEKDAYS
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
QUIET = DispatchSettings().quiet_hours


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def at(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)  # type: ignore[misc]


def test_before_inside_and_after_the_window() -> None:
    hours = (time(9), time(20))
    # 2026-12-02 is a Wednesday; Shanghai is UTC+8 all year
    assert next_allowed(at(SHANGHAI, 2026, 12, 2, 7, 15), SHANGHAI, EVERY_DAY, hours) == utc(
        2026, 12, 2, 1, 0
    )
    inside = at(SHANGHAI, 2026, 12, 2, 12, 34)
    assert next_allowed(inside, SHANGHAI, EVERY_DAY, hours) == inside
    assert next_allowed(inside, SHANGHAI, EVERY_DAY, hours).tzinfo is UTC
    assert next_allowed(at(SHANGHAI, 2026, 12, 2, 20, 1), SHANGHAI, EVERY_DAY, hours) == utc(
        2026, 12, 3, 1, 0
    )


def test_the_end_of_the_window_is_excluded_and_the_start_included() -> None:
    hours = (time(9), time(20))
    opening = at(SHANGHAI, 2026, 12, 2, 9, 0)
    assert next_allowed(opening, SHANGHAI, EVERY_DAY, hours) == opening
    last = at(SHANGHAI, 2026, 12, 2, 19, 59, 59)
    assert next_allowed(last, SHANGHAI, EVERY_DAY, hours) == last
    closing = at(SHANGHAI, 2026, 12, 2, 20, 0)
    assert next_allowed(closing, SHANGHAI, EVERY_DAY, hours) == utc(2026, 12, 3, 1, 0)


def test_weekdays_not_allowed_are_skipped() -> None:
    hours = (time(10), time(16))
    # Friday evening in Berlin (CET, UTC+1) waits for Monday 10:00
    friday = at(BERLIN, 2026, 12, 4, 17, 0)
    assert next_allowed(friday, BERLIN, WORKDAYS, hours) == utc(2026, 12, 7, 9, 0)
    # Only Wednesdays, on a Wednesday after closing: next week
    wednesday = at(BERLIN, 2026, 12, 2, 16, 0)
    assert next_allowed(wednesday, BERLIN, ("wed",), hours) == utc(2026, 12, 9, 9, 0)


def test_a_utc_now_on_another_local_date_uses_the_local_date() -> None:
    hours = (time(9), time(20))
    # Friday 23:30 UTC is already Saturday 07:30 in Shanghai: the weekend
    # is not allowed, so the next opening is Monday 09:00 local.
    friday_night = utc(2026, 12, 4, 23, 30)
    assert next_allowed(friday_night, SHANGHAI, WORKDAYS, hours) == utc(2026, 12, 7, 1, 0)
    # Monday 01:00 UTC is still Sunday 20:00 in New York (EST, UTC-5).
    monday = utc(2026, 12, 7, 1, 0)
    assert next_allowed(monday, NEW_YORK, WORKDAYS, hours) == utc(2026, 12, 7, 14, 0)
    # Any zone of `now` names the same instant
    assert next_allowed(monday.astimezone(BERLIN), NEW_YORK, WORKDAYS, hours) == utc(
        2026, 12, 7, 14, 0
    )


def test_sms_quiet_hours_narrow_the_campaign_window() -> None:
    campaign = (time(9), time(22))
    quiet = quiet_hours_for(QUIET, "sms", "DE")
    assert quiet == (time(8), time(21))
    late = at(BERLIN, 2026, 12, 2, 21, 30)
    # campaign allows 21:30, SMS does not: tomorrow 09:00 (campaign start)
    assert next_allowed(late, BERLIN, EVERY_DAY, campaign, quiet) == utc(2026, 12, 3, 8, 0)
    assert next_allowed(late, BERLIN, EVERY_DAY, campaign) == late
    edge = at(BERLIN, 2026, 12, 2, 20, 59)
    assert next_allowed(edge, BERLIN, EVERY_DAY, campaign, quiet) == edge
    early = at(BERLIN, 2026, 12, 2, 7, 30)  # campaign opens 07:00, SMS 08:00
    assert next_allowed(early, BERLIN, EVERY_DAY, (time(7), time(12)), quiet) == utc(
        2026, 12, 2, 7, 0
    )


def test_us_calls_stop_at_eight_in_the_evening() -> None:
    quiet = quiet_hours_for(QUIET, "call", "us")
    assert quiet == (time(8), time(20))
    assert quiet_hours_for(QUIET, "call", "FR") == (time(8), time(21))
    assert quiet_hours_for(QUIET, "call", None) == (time(8), time(21))
    assert quiet_hours_for(QUIET, "email", "US") is None
    step = (time(9), time(21))
    before = at(NEW_YORK, 2026, 12, 2, 19, 59)
    assert next_allowed(before, NEW_YORK, EVERY_DAY, step, quiet) == before
    eight = at(NEW_YORK, 2026, 12, 2, 20, 0)
    assert next_allowed(eight, NEW_YORK, EVERY_DAY, step, quiet) == utc(2026, 12, 3, 14, 0)


def test_no_overlap_or_no_weekday_is_a_clear_error() -> None:
    now = utc(2026, 12, 2, 12, 0)
    with pytest.raises(ValueError, match=r"22:00-23:00 leaves no time within quiet hours 08:00"):
        next_allowed(now, BERLIN, EVERY_DAY, (time(22), time(23)), (time(8), time(21)))
    with pytest.raises(ValueError, match="no weekday"):
        next_allowed(now, BERLIN, (), (time(9), time(20)))
    with pytest.raises(ValueError, match="unknown weekdays"):
        next_allowed(now, BERLIN, ("monday",), (time(9), time(20)))
    with pytest.raises(ValueError, match="aware"):
        next_allowed(datetime(2026, 12, 2, 12), BERLIN, EVERY_DAY, (time(9), time(20)))


# Europe/Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00 UTC.
def test_berlin_spring_forward_opens_after_the_gap() -> None:
    sunday = date(2026, 3, 29)
    assert local_instant(sunday, time(2, 30), BERLIN) == utc(2026, 3, 29, 1, 0)
    assert local_instant(sunday, time(2, 0), BERLIN) == utc(2026, 3, 29, 1, 0)
    assert local_instant(sunday, time(3, 0), BERLIN) == utc(2026, 3, 29, 1, 0)
    assert local_instant(sunday, time(1, 59), BERLIN) == utc(2026, 3, 29, 0, 59)
    night = at(BERLIN, 2026, 3, 29, 0, 30)
    opens = next_allowed(night, BERLIN, EVERY_DAY, (time(2, 30), time(6)))
    assert opens == utc(2026, 3, 29, 1, 0)
    assert opens.astimezone(BERLIN).strftime("%H:%M %Z") == "03:00 CEST"
    # a window ending in the gap ends at the gap: 01:00-02:30 lasts one hour
    assert window_on(sunday, BERLIN, (time(1), time(2, 30))) == (
        utc(2026, 3, 29, 0, 0),
        utc(2026, 3, 29, 1, 0),
    )
    # a window wholly inside the gap does not open that day
    start, end = window_on(sunday, BERLIN, (time(2, 10), time(2, 50)))
    assert start == end
    assert next_allowed(night, BERLIN, EVERY_DAY, (time(2, 10), time(2, 50))) == utc(
        2026, 3, 30, 0, 10
    )
    # the day after, CEST (UTC+2) applies
    assert window_on(date(2026, 3, 30), BERLIN, (time(9), time(20))) == (
        utc(2026, 3, 30, 7, 0),
        utc(2026, 3, 30, 18, 0),
    )


# Europe/Berlin 2026-10-25: 03:00 CEST falls back to 02:00 CET at 01:00 UTC.
def test_berlin_fall_back_takes_the_first_occurrence_and_real_length() -> None:
    sunday = date(2026, 10, 25)
    start, end = window_on(sunday, BERLIN, (time(2, 30), time(3, 30)))
    assert start == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, the first 02:30
    assert end == utc(2026, 10, 25, 2, 30)  # 03:30 CET
    assert end - start == timedelta(hours=2)
    # 02:45 on the second pass (CET) is inside the window, as an instant
    second_pass = utc(2026, 10, 25, 1, 45)
    assert next_allowed(second_pass, BERLIN, EVERY_DAY, (time(2, 30), time(3, 30))) == second_pass
    # a whole day window is 25 real hours long
    day_start, day_end = window_on(sunday, BERLIN, (time(0), time(23, 59)))
    assert day_end - day_start == timedelta(hours=24, minutes=59)


# America/New_York 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00 UTC.
def test_new_york_spring_forward() -> None:
    sunday = date(2026, 3, 8)
    assert local_instant(sunday, time(2, 15), NEW_YORK) == utc(2026, 3, 8, 7, 0)
    night = at(NEW_YORK, 2026, 3, 8, 1, 0)
    assert next_allowed(night, NEW_YORK, ("sun",), (time(2, 15), time(4))) == utc(2026, 3, 8, 7, 0)
    assert window_on(sunday, NEW_YORK, (time(9), time(20))) == (
        utc(2026, 3, 8, 13, 0),
        utc(2026, 3, 9, 0, 0),
    )
    # Saturday before: EST (UTC-5)
    assert window_on(date(2026, 3, 7), NEW_YORK, (time(9), time(20))) == (
        utc(2026, 3, 7, 14, 0),
        utc(2026, 3, 8, 1, 0),
    )


# America/New_York 2026-11-01: 02:00 EDT falls back to 01:00 EST at 06:00 UTC.
def test_new_york_fall_back() -> None:
    sunday = date(2026, 11, 1)
    start, end = window_on(sunday, NEW_YORK, (time(1, 30), time(2, 30)))
    assert start == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert end == utc(2026, 11, 1, 7, 30)  # 02:30 EST
    assert end - start == timedelta(hours=2)
    assert window_on(sunday, NEW_YORK, (time(8), time(20))) == (
        utc(2026, 11, 1, 13, 0),
        utc(2026, 11, 2, 1, 0),
    )
    # after the end of Sunday's window: Monday 08:00 EST
    late = utc(2026, 11, 2, 1, 0)
    assert next_allowed(late, NEW_YORK, EVERY_DAY, (time(8), time(20))) == utc(2026, 11, 2, 13, 0)


def test_shanghai_has_no_dst() -> None:
    for day in (date(2026, 3, 29), date(2026, 10, 25), date(2026, 3, 8), date(2026, 11, 1)):
        start, end = window_on(day, SHANGHAI, (time(9), time(20)))
        assert start == datetime.combine(day, time(1), UTC)
        assert end - start == timedelta(hours=11)


def test_first_send_is_dst_correct_and_keeps_the_start_zone() -> None:
    windows = Windows(days=["sun"], hours=(time(2, 30), time(6)))
    opens = first_send(at(BERLIN, 2026, 3, 29, 0, 0), windows)
    assert opens == utc(2026, 3, 29, 1, 0)
    assert opens.tzinfo is BERLIN
    assert (opens.hour, opens.minute) == (3, 0)


def test_held_by_tells_the_send_window_from_quiet_hours() -> None:
    hours, quiet = (time(7), time(22)), (time(8), time(21))
    early = at(SHANGHAI, 2026, 12, 2, 7, 30)  # inside the window, before quiet hours end
    assert held_by(early, SHANGHAI, EVERY_DAY, hours, quiet) == (
        at(SHANGHAI, 2026, 12, 2, 8, 0),
        "quiet_hours",
    )
    night = at(SHANGHAI, 2026, 12, 2, 6, 0)  # before both: the window alone holds it to 07:00
    assert held_by(night, SHANGHAI, EVERY_DAY, (time(9), time(20)), quiet)[1] == "send_window"
    noon = at(SHANGHAI, 2026, 12, 2, 12, 0)
    assert held_by(noon, SHANGHAI, EVERY_DAY, hours, quiet) == (noon, None)
    assert held_by(night, SHANGHAI, EVERY_DAY, hours)[1] == "send_window"
