"""When a message may reach a person: send windows and quiet hours, in local time.

A window is a weekday set and a daily (start, end) of wall-clock times in
the recipient's zone, start inclusive, end exclusive. Quiet hours (SMS
08:00–21:00, calls 08:00–21:00 or 20:00 in the US) narrow it further.

Wall-clock times become instants by one rule, so every caller agrees on
daylight-saving days:
- a time that does not exist (inside a spring-forward gap) is the first
  real instant after the gap: 02:30 in Berlin on 2026-03-29 is 03:00 CEST;
  a window ending in the gap ends there, and a window wholly inside the
  gap does not open that day;
- a time that exists twice (fall-back) is its first occurrence (fold=0),
  and the window lasts the real elapsed time between its two instants.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Final

from engine.core.campaign.values import WEEKDAYS

SEARCH_DAYS: Final = 8  # today and the same weekday next week


def next_allowed(
    now: datetime,
    zone: tzinfo,
    days: Collection[str],
    hours: tuple[time, time],
    quiet: tuple[time, time] | None = None,
) -> datetime:
    """The first UTC instant at or after `now` inside the window in `zone`.

    The window is `hours` on the weekdays in `days` (``"mon"`` … ``"sun"``),
    intersected with `quiet` when given. Raises ValueError when `now` is
    naive, a weekday is unknown, no weekday is allowed or the hours and
    quiet hours do not overlap.
    """
    if now.tzinfo is None:
        raise ValueError(f"next_allowed needs an aware datetime, got {now!r}")
    unknown = set(days) - set(WEEKDAYS)
    if unknown:
        raise ValueError(f"unknown weekdays {sorted(unknown)}; use {', '.join(WEEKDAYS)}")
    opens, closes = _intersect(hours, quiet)
    now = now.astimezone(UTC)
    today = now.astimezone(zone).date()
    for offset in range(SEARCH_DAYS):
        day = today + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in days:
            continue
        begin, end = window_on(day, zone, (opens, closes))
        if now < end and begin < end:  # empty when wholly inside a DST gap
            return max(begin, now)
    raise ValueError("no weekday is allowed: give at least one of " + ", ".join(WEEKDAYS))


def window_on(day: date, zone: tzinfo, hours: tuple[time, time]) -> tuple[datetime, datetime]:
    """The UTC (start, end) of the local window `hours` on `day` in `zone`.

    Both bounds follow the gap and fold rules of this module, so the window
    is empty (start == end) when it lies wholly inside a spring-forward gap.
    """
    return local_instant(day, hours[0], zone), local_instant(day, hours[1], zone)


def local_instant(day: date, at: time, zone: tzinfo) -> datetime:
    """The UTC instant of the wall-clock time `at` on `day` in `zone`.

    Ambiguous times give their first occurrence; times in a gap give the
    first instant after the gap.
    """
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap, fold=0 reads the wall time with the offset from before the
    # transition and lands after it; fold=1 reads it with the later offset
    # and lands before it. Transitions fall on whole seconds: bisect on those.
    low = int(wall.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp()) - 1
    high = int(first.timestamp()) + 1
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def quiet_hours_for(
    table: Mapping[str, Mapping[str, tuple[time, time]]], channel: str, country: str | None
) -> tuple[time, time] | None:
    """The quiet-hours window of `channel` for a recipient in `country`.

    `table` is ``DispatchSettings.quiet_hours`` (channel -> ISO country or
    ``"default"`` -> hours). None when the channel has no quiet hours.
    """
    regions = table.get(channel)
    if regions is None:
        return None
    if country and country.strip().upper() in regions:
        return regions[country.strip().upper()]
    return regions.get("default")


def _intersect(hours: tuple[time, time], quiet: tuple[time, time] | None) -> tuple[time, time]:
    opens, closes = hours
    if quiet is not None:
        opens, closes = max(opens, quiet[0]), min(closes, quiet[1])
    if opens >= closes:
        allowed = f" within quiet hours {_span(quiet)}" if quiet else ""
        raise ValueError(f"the send window {_span(hours)} leaves no time{allowed}")
    return opens, closes


def _span(hours: tuple[time, time]) -> str:
    return f"{hours[0]:%H:%M}-{hours[1]:%H:%M}"


def held_by(
    now: datetime,
    zone: tzinfo,
    days: Collection[str],
    hours: tuple[time, time],
    quiet: tuple[time, time] | None = None,
) -> tuple[datetime, str | None]:
    """`next_allowed`, with why a send waits until then.

    ``send_window`` when the campaign's days and hours alone hold it back
    that long, ``quiet_hours`` when the quiet hours hold it back longer,
    None when it may go now.
    """
    allowed = next_allowed(now, zone, days, hours, quiet)
    if allowed <= now:
        return allowed, None
    if quiet is not None and next_allowed(now, zone, days, hours) < allowed:
        return allowed, "quiet_hours"
    return allowed, "send_window"
