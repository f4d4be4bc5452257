"""Seeded, streaming demo data: own customers, a bought prospect list and orders.

The rows go through the normal CSV imports, so they are shaped to show each step:
merge (about 2 % of own customers come again as a second CRM record, "C9...", with
the e-mail in other letter case or only the phone, spelt otherwise; about 20 % of the
bought list are existing customers), rejects (about 0.5 % of the rows of every file
are invalid in exactly one clear way, under ids no good row uses) and lifecycle
(12 % never order; the others have a skewed number of orders, about 3 per customer
overall, with last orders spread over active, at-risk, lapsed and lost).

Output is a pure function of (shape, now): identities come from a hash of (seed,
index), everything else from `random.Random` instances seeded per block of
customers, never from the clock or the global generator. Rows are yielded one at a
time and at most one block of customers is held, so memory is constant at any size.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Final, NamedTuple, TypeVar

from engine.demo import names as n

# fmt: off
CUSTOMER_COLUMNS: Final[tuple[str, ...]] = (
    "external_id", "first_name", "last_name", "email", "phone", "address_line1", "address_line2",
    "postal_code", "city", "region", "country", "timezone", "language", "birth_date", "gender",
    "income_band", "occupation", "company_name", "industry", "company_size", "contact_role",
    "household_key", "updated_at", "consent_email", "consent_sms", "consent_mail", "consent_call",
    "loyalty_tier",
)
ORDER_COLUMNS: Final[tuple[str, ...]] = (
    "order_id", "customer_id", "ordered_at", "amount", "currency", "quantity", "channel",
    "category", "brand",
)
# fmt: on

T = TypeVar("T")
Draw = Callable[[], float]  # a random.Random().random
_BLOCK: Final = 500  # customers per seeded block; second records follow at the end of their block
_DAY: Final = 86_400
_YEAR: Final = 31_557_600  # 365.25 days
_UPDATES: Final = 3 * _YEAR  # how far back updated_at goes
_EPOCH: Final = date(1970, 1, 1).toordinal()
_LIST_FIELDS: Final = frozenset(CUSTOMER_COLUMNS[:11]) | {"income_band", "updated_at"}
_NO_COMPANY: Final = {"company_name": "", "industry": "", "company_size": "", "contact_role": ""}
_SOME_INCOME: Final = tuple(band for band in n.INCOME_BANDS if band)
_SOME_OCCUPATION: Final = tuple(job for job in n.OCCUPATIONS if job)
# Days since the last order: cumulative share of buyers, fewest and most days
# (the engine's default stages: active up to 180, at risk up to 365, lapsed up to 730).
_RECENCY: Final = ((0.55, 0, 180), (0.73, 180, 365), (0.88, 365, 730), (1.0, 730, 100_000))
_RATE: Final = (0.28, 1.0)  # log-normal orders per buyer and year (mu, sigma): ~3 per customer
_MAX_ORDERS: Final = 300
_HH_MM: Final = tuple(f"{minute // 60:02d}:{minute % 60:02d}" for minute in range(1440))
_SS: Final = tuple(f"{second:02d}" for second in range(60))


@dataclass(frozen=True)
class DemoShape:
    """How much data to generate and from which seed."""

    customers: int = 10_000  # own customers (internal source)
    prospects: int = 1_500  # bought-list rows (external source); the caller scales it
    duplicate_share: float = 0.02  # share of own customers with a second CRM record
    bad_row_share: float = 0.005  # share of rows (both files) that are deliberately invalid
    years: float = 3.0  # order history length before `now`
    seed: int = 42

    def __post_init__(self) -> None:
        if not (0 <= self.customers < 8_000_000 and self.prospects >= 0):  # C8... are bad rows
            raise ValueError("need 0 <= customers < 8,000,000 and prospects >= 0")
        if not (0 <= self.duplicate_share < 1 and 0 <= self.bad_row_share < 1 and self.years > 0):
            raise ValueError("need shares in [0, 1) and years > 0")


class _Clock(NamedTuple):
    ts: int  # `now` in whole seconds since the epoch; every generated instant is before it
    today: int  # ordinal of now's UTC date


def internal_customers(shape: DemoShape, now: datetime) -> Iterator[dict[str, str]]:
    """Own customers C0000001.. in order; each block is followed by its second records."""
    return _internal_rows(shape, _clock(now))


def external_prospects(shape: DemoShape, now: datetime) -> Iterator[dict[str, str]]:
    """The bought list: new people and (about 20 %) existing customers, without orders."""
    return _prospect_rows(shape, _clock(now))


def orders(shape: DemoShape, now: datetime) -> Iterator[dict[str, str]]:
    """Order history, customer by customer, every order strictly before `now`."""
    return _order_rows(shape, _clock(now))


def _internal_rows(shape: DemoShape, clock: _Clock) -> Iterator[dict[str, str]]:
    seed, second_ids, bad = shape.seed, itertools.count(1), itertools.count()
    person: n.Person | None = None
    for block, start in enumerate(range(0, shape.customers, _BLOCK)):
        r = random.Random(f"{seed}:customers:{block}").random
        plan = _second_records(shape, block)
        kept: dict[int, tuple[n.Person, dict[str, str]]] = {}
        for i in range(start, min(start + _BLOCK, shape.customers)):
            person = n.draw_customer(seed, i, person)
            row = _customer_row(r, person, f"C{i + 1:07d}", clock)
            if i in plan:
                kept[i] = (person, dict(row))  # a copy: the caller may change the row it gets
            yield row
            if r() < shape.bad_row_share:
                k = next(bad)
                fresh = _fresh_person(shape, k, "b")
                yield _spoil(_customer_row(r, fresh, f"C8{k + 1:06d}", clock), k)
        for i in plan:
            yield _second_record(r, *kept[i], f"C9{next(second_ids):06d}", clock)


def _prospect_rows(shape: DemoShape, clock: _Clock) -> Iterator[dict[str, str]]:
    seed, numbers, bad = shape.seed, itertools.count(1), itertools.count()
    for block, start in enumerate(range(0, shape.prospects, _BLOCK)):
        r = random.Random(f"{seed}:prospects:{block}").random
        for k in range(start, min(start + _BLOCK, shape.prospects)):
            yield _prospect_row(r, *_prospect(shape, r, k), f"L{next(numbers):07d}", clock)
            if r() < shape.bad_row_share:
                b = next(bad)
                fresh = _fresh_person(shape, b, "lb")
                row = _prospect_row(
                    r, fresh, fresh.email, fresh.phone, f"L{next(numbers):07d}", clock
                )
                yield _spoil(row, b)


def _order_rows(shape: DemoShape, clock: _Clock) -> Iterator[dict[str, str]]:
    ids, bad, second_ids = itertools.count(1), itertools.count(), itertools.count(1)
    window, share = max(1, int(shape.years * _YEAR)), shape.bad_row_share
    for block, start in enumerate(range(0, shape.customers, _BLOCK)):
        rng = random.Random(f"{shape.seed}:orders:{block}")
        for i in range(start, min(start + _BLOCK, shape.customers)):
            times = _order_times(rng, clock.ts, window)
            yield from _order_stream(rng.random, f"C{i + 1:07d}", times, ids, bad, share)
        for has_orders in _second_records(shape, block).values():
            second_id = f"C9{next(second_ids):06d}"
            if has_orders:  # a few second records were used for purchases too
                times = sorted(
                    clock.ts - 1 - rng.randrange(window) for _ in range(rng.randint(1, 2))
                )
                yield from _order_stream(rng.random, second_id, times, ids, bad, share)


def _clock(now: datetime) -> _Clock:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware UTC datetime")
    utc = now.astimezone(UTC)
    return _Clock(int(utc.timestamp()), utc.date().toordinal())


def _second_records(shape: DemoShape, block: int) -> dict[int, bool]:
    """Customers of `block` with a second CRM record, and whether that record has orders."""
    r = random.Random(f"{shape.seed}:second-records:{block}").random
    plan: dict[int, bool] = {}
    for i in range(block * _BLOCK, min((block + 1) * _BLOCK, shape.customers)):
        if r() < shape.duplicate_share:
            plan[i] = r() < 0.1
    return plan


def _fresh_person(shape: DemoShape, k: int, tag: str) -> n.Person:
    """The person on the k-th bad row of a file: nobody who is on a good row."""
    serial = shape.customers + shape.prospects + 2 * k + (tag != "b")  # unique phone digits
    return n.draw_person(n.Bits(f"{shape.seed}:{tag}:{k}"), shape.seed, serial, f"{tag}{k + 1}")


def _pick(r: Draw, options: Sequence[T]) -> T:
    return options[int(r() * len(options))]


def _customer_row(r: Draw, person: n.Person, external_id: str, clock: _Clock) -> dict[str, str]:
    address, city, country = person.address, person.address.city, person.country
    company = _NO_COMPANY
    if r() < 0.08:
        suffix = n.COMPANY_SUFFIXES[country.code]
        company = {
            "company_name": f"{person.last} {_pick(r, n.COMPANY_WORDS)} {suffix}",
            "industry": _pick(r, n.INDUSTRIES),
            "company_size": _pick(r, n.COMPANY_SIZES),
            "contact_role": _pick(r, n.CONTACT_ROLES),
        }
    return {
        "external_id": external_id,
        "first_name": person.first,
        "last_name": person.last,
        "email": person.email,
        "phone": person.phone,
        "address_line1": address.line1,
        "address_line2": address.line2,
        "postal_code": address.postal,
        "city": city.name,
        "region": city.region,
        "country": country.code,
        "timezone": city.timezone if r() >= 0.1 else "",
        "language": country.language,
        "birth_date": _birth_date(r, clock) if r() < 0.85 else "",
        "gender": person.gender if r() < 0.9 else "",
        "income_band": _pick(r, n.INCOME_BANDS),
        "occupation": _pick(r, n.OCCUPATIONS),
        **company,
        "household_key": person.household,
        "updated_at": _iso(clock.ts - 1 - int(r() * _UPDATES)),
        "consent_email": _pick(r, n.CONSENT_EMAIL),
        "consent_sms": _pick(r, n.CONSENT_SMS),
        "consent_mail": _pick(r, n.CONSENT_MAIL),
        "consent_call": _pick(r, n.CONSENT_CALL),
        "loyalty_tier": _pick(r, n.LOYALTY_TIERS),
    }


def _birth_date(r: Draw, clock: _Clock) -> str:
    """A birthday 18 to 85 years before today (two days of margin for leap years)."""
    return _iso_date(clock.today - 6_577 - int(r() * 24_830))


def _second_record(
    r: Draw, person: n.Person, original: dict[str, str], external_id: str, clock: _Clock
) -> dict[str, str]:
    """The same person as another CRM record: e-mail/phone spelt otherwise, some gaps filled."""
    row = {**original, "external_id": external_id}
    row["updated_at"] = _iso(clock.ts - 1 - int(r() * _UPDATES))
    if r() < 0.7:
        row["email"] = n.recase(original["email"], r() < 0.4)
        if r() < 0.5:
            row["phone"] = n.other_spelling(original["phone"])
    else:
        row["email"], row["phone"] = "", n.other_spelling(original["phone"])
    fillers = (
        ("timezone", person.address.city.timezone),
        ("gender", person.gender),
        ("birth_date", _birth_date(r, clock)),
        ("income_band", _pick(r, _SOME_INCOME)),
        ("occupation", _pick(r, _SOME_OCCUPATION)),
    )
    for field, value in fillers:
        if not row[field] and r() < 0.7:
            row[field] = value
    return row


def _spoil(row: dict[str, str], k: int) -> dict[str, str]:
    """Make the k-th bad row invalid in one way, rotating over the kinds."""
    field, value = n.BAD_CUSTOMER_VALUES[k % len(n.BAD_CUSTOMER_VALUES)]
    row[field] = value
    return row


def _prospect(shape: DemoShape, r: Draw, k: int) -> tuple[n.Person, str, str]:
    """List entry `k`: the person, and their e-mail and phone as the list spells them."""
    seed = shape.seed
    if shape.customers and r() < 0.2:  # already a customer
        person = n.draw_customer(seed, int(r() * shape.customers))
        if r() < 0.3:  # the list has an older or a newer address
            person = person._replace(
                address=n.draw_address(n.Bits(f"{seed}:moved:{k}"), person.country)
            )
        email = n.recase(person.email, r() < 0.4) if r() < 0.5 else f"  {person.email} "
        return person, email, n.other_spelling(person.phone) if r() < 0.5 else ""
    person = n.draw_person(n.Bits(f"{seed}:list:{k}"), seed, shape.customers + k, f"l{k + 1}")
    return person, person.email, person.phone if r() < 0.6 else ""


def _prospect_row(
    r: Draw, person: n.Person, email: str, phone: str, external_id: str, clock: _Clock
) -> dict[str, str]:
    """A bought-list row: contact and postal fields only, mail consent for about half."""
    full = _customer_row(r, person, external_id, clock)
    row = {column: value if column in _LIST_FIELDS else "" for column, value in full.items()}
    row.update(email=email, phone=phone, consent_mail="yes" if r() < 0.5 else "")
    if r() < 0.5:
        row["income_band"] = ""
    return row


def _order_times(rng: random.Random, now_ts: int, window: int) -> list[int]:
    """Order instants of one customer, oldest first; [] for the 12 % who never ordered."""
    r = rng.random
    if r() < 0.12:
        return []
    x = r()
    low, high = next((lo, hi) for share, lo, hi in _RECENCY if x < share)
    gap = min(window - 1, int((low + r() * (high - low)) * _DAY))
    last, span = now_ts - 1 - gap, int(r() * (window - gap))
    rate = rng.lognormvariate(*_RATE)  # orders per year: most buy rarely, a few very often
    count = min(_MAX_ORDERS, 1 + int(rate * span / _YEAR + r()))
    if count == 1:
        return [last]
    first = last - span
    return [first, *sorted(first + int(r() * span) for _ in range(count - 2)), last]


def _order_stream(
    r: Draw, customer: str, times: list[int], ids: Iterator[int], bad: Iterator[int], share: float
) -> Iterator[dict[str, str]]:
    """Order rows at `times`, each followed by a spoilt copy with probability `share`."""
    for ts in times:
        row = {
            "order_id": f"O{next(ids):09d}",
            "customer_id": customer,
            "ordered_at": _iso(ts),
            "amount": _pick(r, n.AMOUNTS),
            "currency": "CNY" if r() < 0.9 else "USD",
            "quantity": _pick(r, n.QUANTITIES),
            "channel": _pick(r, n.CHANNELS),
            "category": _pick(r, n.CATEGORIES),
            "brand": _pick(r, n.BRANDS),
        }
        yield row
        if r() < share:
            k = next(bad)
            field, value = n.BAD_ORDER_VALUES[k % len(n.BAD_ORDER_VALUES)]
            yield {**row, "order_id": f"O{next(ids):09d}", field: value}


@lru_cache(maxsize=65_536)
def _iso_date(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def _iso(ts: int) -> str:
    days, seconds = divmod(ts, _DAY)
    return f"{_iso_date(_EPOCH + days)}T{_HH_MM[seconds // 60]}:{_SS[seconds % 60]}Z"
