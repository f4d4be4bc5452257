"""Typed, frozen settings: the one shape the configuration takes in code.

`engine.config` parses ``config.yaml`` and the environment into these once,
at the edge; components receive the piece they need (a `LifecycleSettings`,
an `ImportSettings`), never the whole file or a raw dict.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from engine.core.campaign.values import Hours
from engine.core.customers import FILE_FIELDS
from engine.core.orders import FIELDS as ORDER_FILE_FIELDS

CUSTOMER_FIELDS = FILE_FIELDS
ORDER_FIELDS = ORDER_FILE_FIELDS


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def over_defaults(model: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    """A per-channel map from a file over the field's default: listing one channel changes that one."""
    if not isinstance(value, dict):
        return value
    defaults = model.model_fields[info.field_name or ""].get_default(call_default_factory=True)
    return {**defaults, **value}


class DatabaseSettings(Frozen):
    url: str = "sqlite:///var/engine.sqlite3"
    echo: bool = False


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


Channel = Literal["email", "sms", "mail", "call"]
ConsentBasis = Literal["opt_in", "opt_out"]


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


class SendGridSettings(Frozen):
    """E-mail through SendGrid's v3 Mail Send API (official `sendgrid` client)."""

    api_key: str | None = None  # unset: e-mail goes to the outbox
    # API base URL; tests and benchmarks point it at a local fake server.
    host: Annotated[str, Field(pattern=r"^https?://")] = "https://api.sendgrid.com"
    timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    # Requests in flight: one per personalised e-mail, ~50-200 ms each.
    concurrency: Annotated[int, Field(ge=1, le=256)] = 128
    sandbox: bool = False  # mail_settings.sandbox_mode: accepted, never delivered
    custom_args_prefix: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,15}$")] = "ce_"


class TwilioSettings(Frozen):
    """SMS through Twilio's Messages API (official `twilio` client)."""

    account_sid: str | None = None  # unset: SMS go to the outbox
    auth_token: str | None = None
    from_number: str | None = None  # E.164; or a messaging service:
    messaging_service_sid: str | None = None
    # API base URL; tests and benchmarks point it at a local fake server.
    base_url: Annotated[str, Field(pattern=r"^https?://")] = "https://api.twilio.com"
    timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    concurrency: Annotated[int, Field(ge=1, le=256)] = 16

    @property
    def configured(self) -> bool:
        sender = self.from_number or self.messaging_service_sid
        return bool(self.account_sid and self.auth_token and sender)


class SeedAddress(Frozen):
    """An internal address added to every mail drop to check the mailing arrives."""

    name: Annotated[str, Field(min_length=1)]
    address_line1: Annotated[str, Field(min_length=1)]
    address_line2: str | None = None
    postal_code: str | None = None
    city: str | None = None
    region: str | None = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class PrintSettings(Frozen):
    """Postal mail drops: print files for the mail house."""

    out_dir: Path = Path("var/print")
    seeds: tuple[SeedAddress, ...] = ()
    purl_base: str | None = None  # personal URL prefix; default sender.public_url + /r/


class CallListSettings(Frozen):
    out_dir: Path = Path("var/calls")


class ChannelSettings(Frozen):
    sendgrid: SendGridSettings = SendGridSettings()
    twilio: TwilioSettings = TwilioSettings()
    print: PrintSettings = PrintSettings()
    calls: CallListSettings = CallListSettings()


class TrackingSettings(Frozen):
    """Opens, clicks and unsubscribe links in e-mail."""

    # engine: links rewritten to signed /t/c/ redirects and a /t/o/ pixel of
    # our own; sendgrid: SendGrid's click and open tracking instead.
    mode: Literal["engine", "sendgrid"] = "engine"
    # Signs tracking and unsubscribe tokens; set your own per installation.
    secret: Annotated[str, Field(min_length=16)] = "demo-tracking-secret-change-me"


class WebhookSettings(Frozen):
    """Secrets that callbacks are verified with (set them from the environment).

    Twilio requests are checked with `channels.twilio.auth_token` against
    `sender.public_url`, the URL Twilio was given.
    """

    # SendGrid Event Webhook verification key: the base64 DER public key
    # shown in SendGrid's Mail Settings (ENGINE_WEBHOOKS__SENDGRID_PUBLIC_KEY).
    sendgrid_public_key: str | None = None
    # HMAC-SHA256 secrets of our own signed endpoints, one per caller.
    responses_secret: str | None = None  # the shop / POS: POST /webhooks/responses
    mail_secret: str | None = None  # the mail house or print API: POST /webhooks/mail
    calls_secret: str | None = None  # the call centre: POST /webhooks/calls


def _rate(value: Any) -> Any:
    """``"100/s"``, ``"600/min"``, ``"3600/h"`` as messages per second."""
    if not isinstance(value, str):
        return value
    count, _, unit = value.partition("/")
    per = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}.get(unit.strip().lower())
    try:
        if per is None:
            raise ValueError
        return float(count) / per
    except ValueError:
        raise ValueError(f"expected a rate like 100/s or 600/min, got {value!r}") from None


Rate = Annotated[float, Field(gt=0), BeforeValidator(_rate)]


class DispatchSettings(Frozen):
    """How due sends are claimed, paced, retried and recovered."""

    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500  # sends claimed at once
    lease_seconds: Annotated[int, Field(ge=10)] = 300  # a claim older than this is a crash
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 5
    retry_seconds: Annotated[int, Field(ge=1)] = 60  # first retry; doubles each attempt
    pause_after_errors: Annotated[int, Field(ge=1)] = 20  # consecutive provider errors
    # A send whose fate is unknown (timeout, crash) waits this long for a
    # provider event; then `unknown_policy` decides: give_up (marketing
    # default: better one missing message than two) or resend.
    unknown_grace_hours: Annotated[float, Field(gt=0)] = 24.0
    unknown_policy: Literal["give_up", "resend"] = "give_up"
    # Messages per second (or "600/min") per channel, across all workers.
    throttle: dict[Channel, Rate] = Field(default_factory=lambda: {"email": 100.0, "sms": 10.0})
    # Local hours when SMS and calls may reach a person, by ISO country code
    # of the customer ("default" for every other country).
    quiet_hours: dict[Literal["sms", "call"], dict[str, Hours]] = Field(
        default_factory=lambda: {
            "sms": {"default": (time(8), time(21))},
            "call": {"default": (time(8), time(21)), "US": (time(8), time(20))},
        }
    )
    poll_seconds: Annotated[float, Field(gt=0)] = 5.0  # `campaign worker` idle wait

    @field_validator("throttle", "quiet_hours", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any, info: ValidationInfo) -> Any:
        return over_defaults(cls, value, info)

    @field_validator("quiet_hours")
    @classmethod
    def _default_region(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for channel, regions in value.items():
            if "default" not in regions:
                raise ValueError(f"{channel}: give the hours of 'default' (all other countries)")
        return value


class DashboardSettings(Frozen):
    """Who may open the dashboard, and how its session cookie is set (docs/dashboard.md)."""

    # name -> werkzeug password hash (`campaign dashboard-user NAME` prints one).
    users: dict[str, str] = Field(default_factory=dict)
    # name -> SHA-256 hex of an API token, sent as `Authorization: Bearer <token>`.
    tokens: dict[str, Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(
        default_factory=dict
    )
    # Signs the session cookie: set ENGINE_DASHBOARD__SECRET_KEY. Unset: a
    # random key per process (sessions end on restart; one worker only).
    secret_key: Annotated[str, Field(min_length=32)] | None = None
    # Secure cookies travel over HTTPS only: keep true behind TLS in production.
    session_cookie_secure: bool = True
    session_hours: Annotated[int, Field(ge=1, le=24 * 30)] = 12


class FollowupSettings(Frozen):
    """How follow-up rules are evaluated (docs/followups.md)."""

    # Opens flagged as machine opens (Apple Mail Privacy Protection, link
    # scanners) do not trigger `opened` / `not_opened` rules unless true.
    count_machine_opens: bool = False
    tick_seconds: Annotated[float, Field(gt=0)] = 15.0  # the scheduler's `followups` tick
    # Each pass looks this far behind the previous one, so events and sends
    # committed just after a pass are not missed.
    lookback_seconds: Annotated[float, Field(ge=0)] = 60.0


class Settings(Frozen):
    timezone: str = "Asia/Shanghai"
    database: DatabaseSettings = DatabaseSettings()
    imports: ImportSettings = ImportSettings()
    currency: CurrencySettings = CurrencySettings()
    metrics: MetricsSettings = MetricsSettings()
    templates_dir: Path = Path("templates")
    sender: SenderSettings = SenderSettings()
    eligibility: EligibilitySettings = EligibilitySettings()
    response_codes: ResponseCodeSettings = ResponseCodeSettings()
    channels: ChannelSettings = ChannelSettings()
    tracking: TrackingSettings = TrackingSettings()
    dispatch: DispatchSettings = DispatchSettings()
    webhooks: WebhookSettings = WebhookSettings()
    dashboard: DashboardSettings = DashboardSettings()
    followups: FollowupSettings = FollowupSettings()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r}") from None
        return value
