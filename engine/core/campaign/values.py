"""The small value languages of campaign files: durations, shares, moments, hours.

Each parser takes what YAML gave (a string, a number, a date) and returns a
plain value or raises ValueError with a message for the marketer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator

UNITS: Final = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_AGO = re.compile(r"^\s*(\d+)\s+(minute|hour|day|week)s?\s+ago\s*$")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_duration(value: Any) -> timedelta:
    """``20m``, ``12h``, ``3d``, ``2w`` as a timedelta (bare numbers are refused)."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"expected a duration like 20m, 12h, 3d or 2w, got {value!r}")
    amount, unit = int(match[1]), UNITS[match[2]]
    return timedelta(**{unit: amount})


def parse_share(value: Any) -> Decimal:
    """``10%`` or ``0.1`` as an exact fraction between 0 and 1."""
    try:
        if isinstance(value, str) and value.strip().endswith("%"):
            share = Decimal(value.strip()[:-1].strip()) / 100
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            share = Decimal(str(value))
        else:
            raise InvalidOperation
    except InvalidOperation:
        raise ValueError(f"expected a share like 10% or 0.1, got {value!r}") from None
    if not 0 <= share <= 1:
        raise ValueError(f"a share is between 0% and 100%, got {value!r}")
    return share


def parse_local_datetime(value: Any) -> datetime:
    """A wall-clock time (naive: it is read in the campaign's timezone)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a time like 2026-12-02 10:00, got {value!r}")


@dataclass(frozen=True, slots=True)
class Moment:
    """A point in time in a filter: ``90 days ago``, ``today``, or a date/time.

    Relative moments are resolved against the `now` of a plan or launch, so
    the same file selects the customers who qualify on the day it runs.
    """

    ago: timedelta | None = None
    at: datetime | None = None  # naive: campaign timezone
    start_of_today: bool = False

    def resolve(self, now: datetime, zone: ZoneInfo) -> datetime:
        """The UTC instant this moment names at `now`."""
        if self.ago is not None:
            return now - self.ago
        if self.at is not None:
            local = self.at if self.at.tzinfo else self.at.replace(tzinfo=zone)
            return local.astimezone(UTC)
        midnight = datetime.combine(now.astimezone(zone).date(), time(), zone)
        return midnight.astimezone(UTC) if self.start_of_today else now


def parse_moment(value: Any) -> Moment:
    if isinstance(value, Moment):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "now":
            return Moment()
        if text == "today":
            return Moment(start_of_today=True)
        match = _AGO.match(text)
        if match:
            return Moment(ago=timedelta(**{match[2] + "s": int(match[1])}))
    try:
        return Moment(at=parse_local_datetime(value))
    except ValueError:
        raise ValueError(
            f"expected a moment like '90 days ago', 'today' or 2026-01-31, got {value!r}"
        ) from None


def parse_hours(value: Any) -> tuple[time, time]:
    """``"10:00-16:00"`` as (start, end); end after start, both in local time."""
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(t, time) for t in value):
        return value[0], value[1]
    match = _HOURS.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"expected hours like '09:00-20:00', got {value!r}")
    try:
        start, end = time(int(match[1]), int(match[2])), time(int(match[3]), int(match[4]))
    except ValueError:
        raise ValueError(f"not a time of day in {value!r}") from None
    if end <= start:
        raise ValueError(f"the window must end after it starts: {value!r}")
    return start, end


def parse_time_of_day(value: Any) -> time:
    """``"09:00"`` as a time of day."""
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"expected a time of day like '09:00', got {value!r}") from None


def parse_weekday(value: Any) -> str:
    text = str(value).strip().lower()[:3]
    if text not in WEEKDAYS:
        raise ValueError(f"expected a weekday ({', '.join(WEEKDAYS)}), got {value!r}")
    return text


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Share = Annotated[Decimal, BeforeValidator(parse_share)]
LocalDateTime = Annotated[datetime, BeforeValidator(parse_local_datetime)]
MomentValue = Annotated[Moment, BeforeValidator(parse_moment)]
Hours = Annotated[tuple[time, time], BeforeValidator(parse_hours)]
Weekday = Annotated[str, BeforeValidator(parse_weekday)]
TimeOfDay = Annotated[time, BeforeValidator(parse_time_of_day)]


def format_duration(value: timedelta) -> str:
    """The shortest ``3d``-style spelling of `value` (for plans and messages)."""
    minutes = int(value.total_seconds() // 60)
    for unit, size in (("w", 7 * 24 * 60), ("d", 24 * 60), ("h", 60)):
        if minutes and minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"
