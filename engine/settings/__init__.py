"""Typed, frozen settings: the one shape the configuration takes in code.

`engine.config` parses ``config.yaml`` and the environment into these once,
at the edge; components receive the piece they need (a `LifecycleSettings`,
an `ImportSettings`), never the whole file or a raw dict.

The models live by concept in `engine.settings.data` (customer database),
`engine.settings.sending` (channels, tracking, callbacks, dispatch,
follow-ups) and `engine.settings.web` (dashboard); they are all importable
from here.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator

from engine.settings.base import Channel, ConsentBasis, Frozen, over_defaults
from engine.settings.data import (
    CUSTOMER_FIELDS,
    ORDER_FIELDS,
    CapSettings,
    CurrencySettings,
    DatabaseSettings,
    EligibilitySettings,
    HoldoutSettings,
    ImportSettings,
    LifecycleSettings,
    MetricsSettings,
    ResponseCodeSettings,
    SenderSettings,
    TrustSettings,
    ValueTierSettings,
)
from engine.settings.sending import (
    CallListSettings,
    ChannelSettings,
    DispatchSettings,
    FollowupSettings,
    PrintSettings,
    Rate,
    SeedAddress,
    SendGridSettings,
    TrackingSettings,
    TwilioSettings,
    WebhookSettings,
)
from engine.settings.web import DashboardSettings

__all__ = [
    "CUSTOMER_FIELDS",
    "ORDER_FIELDS",
    "CallListSettings",
    "CapSettings",
    "Channel",
    "ChannelSettings",
    "ConsentBasis",
    "CurrencySettings",
    "DashboardSettings",
    "DatabaseSettings",
    "DispatchSettings",
    "EligibilitySettings",
    "FollowupSettings",
    "Frozen",
    "HoldoutSettings",
    "ImportSettings",
    "LifecycleSettings",
    "MetricsSettings",
    "PrintSettings",
    "Rate",
    "ResponseCodeSettings",
    "SeedAddress",
    "SendGridSettings",
    "SenderSettings",
    "Settings",
    "TrackingSettings",
    "TrustSettings",
    "TwilioSettings",
    "ValueTierSettings",
    "WebhookSettings",
    "over_defaults",
]


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
