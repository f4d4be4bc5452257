"""Settings of sending and tracking: channels, tracking, callbacks, dispatch, follow-ups."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
)

from engine.core.campaign.values import Hours
from engine.settings.base import Channel, Frozen, over_defaults


class SendGridSettings(Frozen):
    """E-mail through SendGrid's v3 Mail Send API (official `sendgrid` client)."""

    api_key: str | None = None  # unset: e-mail goes to the outbox
    # API base URL; tests and benchmarks point it at a local fake server.
    host: Annotated[str, Field(pattern=r"^https?://")] = "https://api.sendgrid.com"
    timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    # Requests in flight: one per personalised e-mail, ~50-200 ms each.
    concurrency: Annotated[int, Field(ge=1, le=1000)] = 256
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
    # Twilio status callbacks are kept in the request and applied in bulk by
    # the web process this long after the first of a burst arrives.
    twilio_status_delay_ms: Annotated[int, Field(ge=0, le=60_000)] = 200


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
    # SQLite page cache per connection of `campaign dispatch` and `campaign
    # worker` (instead of database.sqlite_cache_mb): their reads are index
    # seeks, and a pooled connection's full cache would be most of their memory.
    sqlite_cache_mb: Annotated[int, Field(ge=1, le=4096)] = 8

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


class FollowupSettings(Frozen):
    """How follow-up rules are evaluated (docs/followups.md)."""

    # Opens flagged as machine opens (Apple Mail Privacy Protection, link
    # scanners) do not trigger `opened` / `not_opened` rules unless true.
    count_machine_opens: bool = False
    tick_seconds: Annotated[float, Field(gt=0)] = 15.0  # the scheduler's `followups` tick
    # Each pass looks this far behind the previous one, so events and sends
    # committed just after a pass are not missed.
    lookback_seconds: Annotated[float, Field(ge=0)] = 60.0
