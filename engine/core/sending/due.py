"""A claimed send with everything needed to check, time and render it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

SuppressionKind = Literal["customer", "email", "phone", "address"]
# The address a channel reaches a customer at, as a suppression token kind.
ADDRESS_KIND: Final[dict[str, SuppressionKind]] = {
    "email": "email",
    "sms": "phone",
    "call": "phone",
    "mail": "address",
}


@dataclass(frozen=True, slots=True)
class Due:
    """One claimed send: the send, its contact and the customer as of the claim."""

    send_id: int
    contact_id: int
    campaign_id: int
    step: str
    channel: str
    attempts: int  # provider attempts made before this claim
    due_at: datetime
    cell: str
    response_code: str | None
    customer: dict[str, Any]
    metrics: dict[str, Any]
    expires_at: datetime | None = None  # follow-ups with `expire_after`

    def address(self) -> str | None:
        """The customer's address on this send's channel (None when missing)."""
        c = self.customer
        if self.channel == "email":
            return c.get("email")
        if self.channel in ("sms", "call"):
            return c.get("phone")
        return postal_address(c)


def postal_address(c: Mapping[str, Any]) -> str | None:
    """A customer's postal address as one normalised value (None when incomplete).

    Lines, postal code and country, trimmed and lower-cased, joined by ``|``:
    the value a mail suppression (returned mail) is hashed from.
    """
    parts = [c.get("address_line1"), c.get("postal_code") or c.get("city"), c.get("country")]
    if not all(parts):
        return None
    lines = (c.get("address_line1"), c.get("address_line2"), c.get("postal_code"))
    return "|".join(str(part or "").strip().lower() for part in (*lines, c.get("country")))


def suppression_token(kind: SuppressionKind, value: str) -> str:
    """The hashed form of an address kept in `suppressions.token_hash`.

    sha256 of ``kind:value`` with the value as stored (e-mail lower-cased by
    the import, phone in E.164): a suppression outlives the customer record
    (erasure) and still matches a re-imported one.
    """
    return hashlib.sha256(f"{kind}:{value.strip().lower()}".encode()).hexdigest()


def zone_of(name: str | None) -> ZoneInfo | None:
    """The zone called `name`, or None when there is none or it is unknown."""
    try:
        return ZoneInfo(name) if name else None
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return None
