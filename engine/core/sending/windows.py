"""PROVISIONAL (replaced by the timing branch): send windows and quiet hours."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from engine.core.campaign.values import WEEKDAYS


def next_allowed(
    now: datetime,
    zone: ZoneInfo,
    days: Collection[str],
    hours: tuple[time, time],
    quiet: tuple[time, time] | None = None,
) -> datetime:
    opens, closes = hours
    if quiet is not None:
        opens, closes = max(opens, quiet[0]), min(closes, quiet[1])
    if closes <= opens:
        raise ValueError("the send window and the quiet hours do not overlap")
    local = now.astimezone(zone)
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in days:
            continue
        begin, end = window_on(day, zone, (opens, closes))
        candidate = max(begin, now.astimezone(UTC))
        if candidate < end:
            return candidate
    raise AssertionError("a week always has an allowed day")


def window_on(day: date, zone: ZoneInfo, hours: tuple[time, time]) -> tuple[datetime, datetime]:
    begin = datetime.combine(day, hours[0], zone).astimezone(UTC)
    end = datetime.combine(day, hours[1], zone).astimezone(UTC)
    return begin, end


def quiet_hours_for(
    table: Mapping[str, Mapping[str, tuple[time, time]]], channel: str, country: str | None
) -> tuple[time, time] | None:
    regions = table.get(channel)
    if not regions:
        return None
    return regions.get((country or "").upper()) or regions.get("default")
