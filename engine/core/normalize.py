"""Normalise raw CSV values into typed values, or say exactly why not.

Every parser returns the value or raises `Invalid` with a reason fit for a
rejects file. They are pure and cached where the input space repeats
(e-mail domains, timezones), because imports call them millions of times.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import timezone as phone_timezones


class Invalid(ValueError):
    """A raw value cannot be used; the message is the reason shown to the user."""


# RFC 5322 dot-atom local part in ASCII, exactly what email-validator accepts
# for ASCII input; anything else goes through the full validator.
_ASCII_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
# Digits with at most two decimals: exactly the amounts `cents` takes as they are.
_PLAIN_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]{1,2}))?")
YES = frozenset({"1", "y", "yes", "true", "t", "granted", "opt-in", "optin"})
NO = frozenset({"0", "n", "no", "false", "f", "withdrawn", "opt-out", "optout"})


def email(raw: str) -> str:
    """Lower-cased, syntax-checked address (no DNS); ``Invalid`` otherwise."""
    text = raw.strip()
    local, at, domain = text.rpartition("@")
    if at and len(text) <= 254 and len(local) <= 64 and _ASCII_LOCAL.fullmatch(local):
        return f"{local.lower()}@{_domain(domain.lower())}"
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise Invalid(f"invalid email {raw!r}: {exc}") from None


@lru_cache(maxsize=65536)
def _domain(domain: str) -> str:
    try:
        return validate_email(f"x@{domain}", check_deliverability=False).domain
    except EmailNotValidError as exc:
        raise Invalid(f"invalid email domain {domain!r}: {exc}") from None


def phone_and_zone(raw: str, default_region: str) -> tuple[str, str | None]:
    """E.164 number (``+8613812345678``) and the IANA zone its prefix maps to,
    if exactly one; ``Invalid`` if it is not a real number.

    One parse serves both (parsing is most of the cost of a customer row).
    """
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise Invalid(f"invalid phone {raw!r}: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise Invalid(f"invalid phone {raw!r}: not a valid number for its region")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    zones = phone_timezones.time_zones_for_geographical_number(number)
    return e164, zones[0] if len(zones) == 1 and zones[0] != "Etc/Unknown" else None


@lru_cache(maxsize=1024)
def zone(raw: str) -> str:
    """A valid IANA timezone name."""
    try:
        ZoneInfo(raw.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"unknown timezone {raw!r}") from None
    return raw.strip()


def day(raw: str, formats: tuple[str, ...]) -> date:
    """A calendar date in one of `formats`."""
    text = raw.strip()
    for fmt in formats:
        try:
            if fmt == "%Y-%m-%d" and len(text) == 10 and text[4] == text[7] == "-":
                return date.fromisoformat(text)  # the same answer, ~10x faster than strptime
            return datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a date, no time
        except ValueError:
            continue
    raise Invalid(f"invalid date {raw!r} (expected {' or '.join(formats)})")


def instant(raw: str, default_zone: ZoneInfo) -> datetime:
    """Timezone-aware UTC datetime; naive input is read in `default_zone`."""
    text = raw.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"invalid timestamp {raw!r} (expected ISO 8601)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=default_zone)
    return value.astimezone(UTC)


def cents(raw: str) -> int:
    """A non-negative amount in hundredths of the currency unit."""
    plain = _PLAIN_AMOUNT.fullmatch(raw)
    if plain:  # "129.90", "10", "0.5": the common case, without a Decimal
        units, hundredths = plain.groups()
        return int(units) * 100 + (int(hundredths.ljust(2, "0")) if hundredths else 0)
    try:
        amount = Decimal(raw.strip().replace(",", ""))
    except InvalidOperation:
        raise Invalid(f"invalid amount {raw!r}") from None
    if not amount.is_finite() or amount < 0:
        raise Invalid(f"invalid amount {raw!r}: must be a non-negative number")
    if amount != amount.quantize(Decimal("0.01")):
        raise Invalid(f"invalid amount {raw!r}: more than 2 decimal places")
    return int(amount * 100)


def count(raw: str) -> int:
    """A positive whole number."""
    text = raw.strip()
    if not text.isdigit() or int(text) < 1:
        raise Invalid(f"invalid quantity {raw!r}: must be a whole number >= 1")
    return int(text)


def flag(raw: str) -> bool | None:
    """yes/no style consent flag; None for an empty cell."""
    text = raw.strip().lower()
    if not text:
        return None
    if text in YES:
        return True
    if text in NO:
        return False
    raise Invalid(f"invalid consent value {raw!r} (use yes or no)")
