"""Customer records from import files, and the rules that merge them.

One customer per person: an incoming record matches an existing customer on
the source's external id, then the normalised e-mail, then the E.164 phone.
Merging never loses data: a value only replaces another when the incoming
record ranks at least as high (internal data beats external data; within a
tier the newer record wins), and a lower-ranked record still fills blanks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Final
from zoneinfo import ZoneInfo

from engine.core import normalize

CHANNELS: Final = ("email", "sms", "mail", "call")
PROFILE_FIELDS: Final = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "region",
    "country",
    "timezone",
    "language",
    "birth_date",
    "gender",
    "income_band",
    "occupation",
    "company_name",
    "industry",
    "company_size",
    "contact_role",
    "household_key",
)
# Every field a customer file can map, in the order of the documentation.
FILE_FIELDS: Final = (
    "external_id",
    *PROFILE_FIELDS,
    "updated_at",
    *(f"consent_{channel}" for channel in CHANNELS),
)
Value = str | date


class Origin(StrEnum):
    INTERNAL = "internal"  # our own sales and service data
    EXTERNAL = "external"  # bought or rented lists, trusted less


@dataclass(frozen=True, slots=True)
class Source:
    """Where a file's records come from (``--source internal|external:NAME``)."""

    name: str
    origin: Origin
    trust: int

    @property
    def rank(self) -> int:
        return 1 if self.origin is Origin.INTERNAL else 0


@dataclass(frozen=True, slots=True)
class ParseOptions:
    default_region: str
    date_formats: tuple[str, ...]
    default_zone: ZoneInfo


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """One valid row of a customer file, normalised; empty cells are absent."""

    line: int
    source_ref: str
    profile: Mapping[str, Value]
    attributes: Mapping[str, str] = field(default_factory=dict)
    consents: Mapping[str, bool] = field(default_factory=dict)
    as_of: datetime | None = None


class CustomerParser:
    """Validates the rows of one customer file; columns are resolved once, not per row."""

    def __init__(
        self, mapping: Mapping[str, str], header: Sequence[str], options: ParseOptions
    ) -> None:
        self.options = options
        where = {column: index for index, column in enumerate(header)}
        self.fields = tuple((f, where[c]) for f, c in mapping.items() if c in where)
        mapped = set(mapping.values())
        self.extras = tuple((c, i) for i, c in enumerate(header) if c and c not in mapped)

    def __call__(self, line: int, cells: Sequence[str]) -> CustomerRecord:
        """One row (cells in header order) as a record; raises `normalize.Invalid`."""
        value = {name: text.strip() for name, index in self.fields if (text := cells[index])}
        profile: dict[str, Value] = {}
        phone_zone = None
        for name in PROFILE_FIELDS:
            if not (raw := value.get(name)):
                continue
            if name == "phone":
                profile[name], phone_zone = normalize.phone_and_zone(
                    raw, self.options.default_region
                )
            else:
                profile[name] = _convert(name, raw, self.options)
        if "email" not in profile and "phone" not in profile and not value.get("external_id"):
            raise normalize.Invalid("row has no external_id, email or phone to identify the person")
        if phone_zone and "timezone" not in profile:
            profile["timezone"] = phone_zone
        consents = {}
        for channel in CHANNELS:
            granted = normalize.flag(value.get(f"consent_{channel}", ""))
            if granted is not None:
                consents[channel] = granted
        as_of = value.get("updated_at")
        attributes = {c: text for c, i in self.extras if (text := cells[i].strip())}
        return CustomerRecord(
            line=line,
            source_ref=value.get("external_id", ""),
            profile=profile,
            attributes=attributes,
            consents=consents,
            as_of=normalize.instant(as_of, self.options.default_zone) if as_of else None,
        )


def _convert(name: str, text: str, options: ParseOptions) -> Value:
    match name:
        case "email":
            return normalize.email(text)
        case "timezone":
            return normalize.zone(text)
        case "birth_date":
            return normalize.day(text, options.date_formats)
        case "country":
            if len(text) != 2 or not text.isalpha():
                raise normalize.Invalid(f"invalid country {text!r} (use ISO 3166 alpha-2)")
            return text.upper()
        case "language":
            return text.lower()
        case _:
            return text


@dataclass(slots=True)
class Customer:
    """A customer as the merge sees it: stored (id set) or new in this batch."""

    id: int | None
    profile: dict[str, Value]
    attributes: dict[str, object]
    origin: Origin
    trust: int
    data_as_of: datetime
    source_name: str = ""
    external_id: str | None = None  # our own customer number, from an internal source


def merge(customer: Customer, record: CustomerRecord, source: Source, now: datetime) -> bool:
    """Fold `record` into `customer` in place; True if anything changed."""
    as_of = record.as_of or now
    current_rank = 1 if customer.origin is Origin.INTERNAL else 0
    wins = (source.rank, as_of) >= (current_rank, customer.data_as_of)
    changed = _fold(customer.profile, record.profile, wins)
    changed |= _fold(customer.attributes, record.attributes, wins)
    # An explicit record time always advances the clock; the import time only
    # when something changed, so re-importing a file leaves rows untouched.
    if wins and as_of > customer.data_as_of and (changed or record.as_of is not None):
        customer.data_as_of, changed = as_of, True
    if source.rank > current_rank:
        customer.origin, changed = source.origin, True
    if source.trust > customer.trust:
        customer.trust, changed = source.trust, True
    if source.origin is Origin.INTERNAL and record.source_ref and not customer.external_id:
        customer.external_id, changed = record.source_ref, True
    return changed


def _fold(target: dict[str, Any], incoming: Mapping[str, Any], wins: bool) -> bool:
    changed = False
    for key, value in incoming.items():
        current = target.get(key)
        if current != value and (wins or current in (None, "")):
            target[key] = value
            changed = True
    return changed


def new_customer(record: CustomerRecord, source: Source, now: datetime) -> Customer:
    """A customer created from its first record."""
    return Customer(
        id=None,
        profile=dict(record.profile),
        attributes=dict(record.attributes),
        origin=source.origin,
        trust=source.trust,
        data_as_of=record.as_of or now,
        source_name=source.name,
        external_id=(record.source_ref or None) if source.origin is Origin.INTERNAL else None,
    )
