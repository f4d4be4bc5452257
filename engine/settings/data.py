"""Settings of the customer database: storage, imports, money, metrics, eligibility."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Self

import phonenumbers
from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from engine.core.customers import FILE_FIELDS
from engine.core.orders import FIELDS as ORDER_FILE_FIELDS
from engine.settings.base import Channel, ConsentBasis, Frozen, over_defaults

CUSTOMER_FIELDS = FILE_FIELDS
ORDER_FIELDS = ORDER_FILE_FIELDS


class DatabaseSettings(Frozen):
    url: str = "sqlite:///var/engine.sqlite3"
    echo: bool = False
    # Page cache per SQLite connection: imports and the metrics refresh walk
    # indexes far larger than SQLite's 2 MB default.
    sqlite_cache_mb: Annotated[int, Field(ge=1, le=4096)] = 64


class TrustSettings(Frozen):
    internal: Annotated[int, Field(ge=0, le=100)] = 100
    external: Annotated[int, Field(ge=0, le=100)] = 40


class ImportSettings(Frozen):
    default_region: str = "CN"
    batch_size: Annotated[int, Field(ge=100, le=100_000)] = 5000
    workers: Annotated[int, Field(ge=0, le=64)] = 0  # parser processes; 0 = one per CPU core
    date_formats: tuple[str, ...] = ("%Y-%m-%d", "%d.%m.%Y", "%Y/%m/%d")
    rejects_dir: Path = Path("var/rejects")
    trust: TrustSettings = TrustSettings()
    customer_columns: dict[str, str] = Field(default_factory=dict)
    order_columns: dict[str, str] = Field(default_factory=dict)

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r} (use ISO 3166 codes like CN, US)")
        return value.upper()

    @field_validator("customer_columns")
    @classmethod
    def _customer_fields(cls, value: dict[str, str]) -> dict[str, str]:
        return _known_fields(value, CUSTOMER_FIELDS)

    @field_validator("order_columns")
    @classmethod
    def _order_fields(cls, value: dict[str, str]) -> dict[str, str]:
        return _known_fields(value, ORDER_FIELDS)

    def customer_mapping(self) -> dict[str, str]:
        """Field -> CSV column for customer files (unmapped fields keep their name)."""
        return {field: self.customer_columns.get(field, field) for field in CUSTOMER_FIELDS}

    def order_mapping(self) -> dict[str, str]:
        """Field -> CSV column for order files."""
        return {field: self.order_columns.get(field, field) for field in ORDER_FIELDS}


def _known_fields(mapping: dict[str, str], fields: tuple[str, ...]) -> dict[str, str]:
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    return mapping


class CurrencySettings(Frozen):
    base: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "CNY"
    rates: dict[Annotated[str, Field(pattern=r"^[A-Z]{3}$")], Decimal] = Field(default_factory=dict)

    @field_validator("rates")
    @classmethod
    def _positive(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for code, rate in value.items():
            if rate <= 0:
                raise ValueError(f"rate for {code} must be positive")
        return value

    def rate(self, currency: str) -> Decimal | None:
        """Units of the base currency per unit of `currency`; None if unknown."""
        return Decimal(1) if currency == self.base else self.rates.get(currency)


class LifecycleSettings(Frozen):
    """Day thresholds that place a customer in a lifecycle stage."""

    new_days: Annotated[int, Field(ge=1)] = 30
    active_days: Annotated[int, Field(ge=1)] = 180
    at_risk_days: Annotated[int, Field(ge=1)] = 365
    lapsed_days: Annotated[int, Field(ge=1)] = 730

    @model_validator(mode="after")
    def _increasing(self) -> Self:
        if not self.active_days < self.at_risk_days < self.lapsed_days:
            raise ValueError("need active_days < at_risk_days < lapsed_days")
        return self


class ValueTierSettings(Frozen):
    """Cumulative shares of buyers, ranked by monetary value, for each tier."""

    top: Annotated[float, Field(gt=0, lt=1)] = 0.05
    high: Annotated[float, Field(gt=0, lt=1)] = 0.20
    medium: Annotated[float, Field(gt=0, lt=1)] = 0.50

    @model_validator(mode="after")
    def _increasing(self) -> Self:
        if not self.top < self.high < self.medium:
            raise ValueError("need top < high < medium (cumulative shares)")
        return self


class MetricsSettings(Frozen):
    lifecycle: LifecycleSettings = LifecycleSettings()
    value_tiers: ValueTierSettings = ValueTierSettings()


class SenderSettings(Frozen):
    """Who the marketing comes from; the e-mail layout prints these."""

    name: str = "Example Shop"
    email: str = "news@shop.example"
    postal_address: Annotated[str, Field(min_length=1)] = "1 Example Road, Shanghai 200000, China"
    # Public base URL of the web app (unsubscribe and tracking links).
    public_url: Annotated[str, Field(pattern=r"^https?://")] = "http://127.0.0.1:5000"
    sms_opt_out_hint: str = "Reply STOP to opt out"


class HoldoutSettings(Frozen):
    """A share of all customers that marketing never contacts (long-term control)."""

    share: Annotated[float, Field(ge=0, le=0.5)] = 0.02
    salt: Annotated[str, Field(min_length=1)] = "global-holdout-v1"


class CapSettings(Frozen):
    """At most `count` messages on a channel per `days` days, across campaigns."""

    count: Annotated[int, Field(ge=0)]
    days: Annotated[int, Field(ge=1)]


def _default_caps() -> dict[str, CapSettings]:
    return {
        "email": CapSettings(count=2, days=7),
        "sms": CapSettings(count=1, days=7),
        "mail": CapSettings(count=1, days=30),
        "call": CapSettings(count=1, days=30),
    }


class EligibilitySettings(Frozen):
    # opt_in: the latest consent must be "granted"; opt_out: not "withdrawn".
    consent: dict[Channel, ConsentBasis] = Field(
        default_factory=lambda: {
            "email": "opt_in",
            "sms": "opt_in",
            "mail": "opt_out",
            "call": "opt_out",
        }
    )
    holdout: HoldoutSettings = HoldoutSettings()
    caps: dict[Channel, CapSettings] = Field(default_factory=_default_caps)

    @field_validator("consent", "caps", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any, info: ValidationInfo) -> Any:
        return over_defaults(cls, value, info)


class ResponseCodeSettings(Frozen):
    """Keys the map from contacts to response codes (set it per installation)."""

    secret: Annotated[str, Field(min_length=8)] = "demo-response-codes"
