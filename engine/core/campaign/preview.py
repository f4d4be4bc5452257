"""What a plan predicts without touching the database: times, variables, power.

`first_send` finds the first moment a send window opens, `message_variables`
builds what templates see; `minimum_detectable_lift` (what a test can
detect) lives in engine.core.stats and is re-exported here for plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

from engine.core.campaign.spec import CampaignSpec, Windows
from engine.core.sending.windows import next_allowed
from engine.core.stats import minimum_detectable_lift as minimum_detectable_lift

SAMPLE_RESPONSE_CODE: Final = "SAMPLE-7"
SAMPLE_CUSTOMER: Final[dict[str, Any]] = {
    "id": 0,
    "external_id": "C-000000",
    "first_name": "Mei",
    "last_name": "Lin",
    "email": "mei.lin@example.com",
    "phone": "+8613800000000",
    "address_line1": "88 Sample Road",
    "address_line2": None,
    "postal_code": "200000",
    "city": "Shanghai",
    "region": "Shanghai",
    "country": "CN",
    "timezone": "Asia/Shanghai",
    "language": "zh",
    "birth_date": date(1990, 5, 17),
    "gender": "f",
    "income_band": "middle",
    "occupation": "designer",
    "company_name": None,
    "industry": None,
    "company_size": None,
    "contact_role": None,
    "household_key": None,
    "origin": "internal",
    "source_name": "shop",
    "trust": 100,
    "attributes": {},
}
SAMPLE_METRICS: Final[dict[str, Any]] = {
    "recency_days": 120,
    "frequency": 4,
    "monetary_cents": 123450,
    "avg_order_cents": 30862,
    "r_score": 3,
    "f_score": 4,
    "m_score": 4,
    "rfm_segment": "loyal",
    "lifecycle": "at_risk",
    "value_tier": "high",
}


def first_send(start: datetime, windows: Windows) -> datetime:
    """The first moment at or after `start` inside a window, in `start`'s zone.

    The window is read in the zone of `start` (its wall clock when naive),
    with the daylight-saving rules of `engine.core.sending.windows`.
    """
    zone = start.tzinfo or UTC
    opens = next_allowed(start.replace(tzinfo=zone), zone, windows.days, windows.hours)
    local = opens.astimezone(zone)
    return local if start.tzinfo else local.replace(tzinfo=None)


def _money(cents: Any) -> str | None:
    return None if cents is None else f"{Decimal(int(cents)) / 100:.2f}"


def message_variables(
    spec: CampaignSpec,
    cell: str,
    customer: Mapping[str, Any],
    metrics: Mapping[str, Any],
    response_code: str,
    purl: str = "",
) -> dict[str, Any]:
    """The variables a template sees (documented in templates/README.md).

    `purl` is the personal URL of the response code (the dispatcher knows
    its base; previews get an empty one). ``offer`` is the cell's
    ``vars.offer`` (None when the cell has none), for templates shared by
    cells that differ only in their offer.
    """
    vars_ = spec.groups.cells[cell].vars if cell in spec.groups.cells else {}
    return {
        "customer": dict(customer),
        "metrics": {
            "recency_days": metrics.get("recency_days"),
            "frequency": metrics.get("frequency"),
            "monetary": _money(metrics.get("monetary_cents")),
            "avg_order": _money(metrics.get("avg_order_cents")),
            "rfm_segment": metrics.get("rfm_segment"),
            "lifecycle": metrics.get("lifecycle"),
            "value_tier": metrics.get("value_tier"),
        },
        "campaign": {"key": spec.key, "name": spec.name},
        "cell": cell,
        "vars": dict(vars_),
        "offer": vars_.get("offer"),
        "response_code": response_code,
        "purl": purl,
    }
