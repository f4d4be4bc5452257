"""Who may be contacted at all, decided before any split (ARCHITECTURE invariant 5).

A customer matched by the segment is excluded for the first reason that
applies, in this order, per entry channel: not reachable on the channel, no
consent, suppressed; then the global holdout; then a frequency cap. Each
reason has a stable name, used in plans and on suppressed contacts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

HOLDOUT_PRIME: Final = 2_147_483_647  # 2^31 - 1: id * multiplier stays inside 64 bits
BUCKETS: Final = 10_000
ELIGIBLE: Final = "eligible"


@dataclass(frozen=True, slots=True)
class ChannelRule:
    channel: str
    consent: Literal["opt_in", "opt_out"]
    cap_count: int
    cap_days: int


@dataclass(frozen=True, slots=True)
class Holdout:
    """A universal hash ``((id * a + b) mod p) mod 10000`` below ``share * 10000``.

    Deterministic, portable SQL arithmetic (the same bucket on SQLite,
    PostgreSQL and here), and evenly spread over consecutive ids.
    """

    share: float
    salt: str

    @property
    def params(self) -> tuple[int, int, int]:
        """(multiplier, offset, threshold in buckets)."""
        digest = hashlib.sha256(self.salt.encode()).digest()
        a = 1 + int.from_bytes(digest[:8], "big") % (HOLDOUT_PRIME - 1)
        b = int.from_bytes(digest[8:16], "big") % HOLDOUT_PRIME
        return a, b, round(self.share * BUCKETS)

    def contains(self, customer_id: int) -> bool:
        a, b, threshold = self.params
        return (customer_id * a + b) % HOLDOUT_PRIME % BUCKETS < threshold


@dataclass(frozen=True, slots=True)
class AudienceRules:
    """Everything the database needs to select and screen an audience."""

    segment: BaseModel | None
    channels: tuple[ChannelRule, ...]
    holdout: Holdout
    now: datetime
    zone: ZoneInfo

    def reasons(self) -> list[str]:
        """Exclusion reasons in the order they are applied."""
        per_channel = [
            f"{kind}_{rule.channel}"
            for rule in self.channels
            for kind in ("unreachable", "no_consent", "suppressed")
        ]
        caps = [f"frequency_cap_{rule.channel}" for rule in self.channels]
        return [*per_channel, "global_holdout", *caps]


@dataclass(frozen=True, slots=True)
class Funnel:
    matched: int
    excluded: tuple[tuple[str, int], ...]  # (reason, customers) in the order applied
    eligible: int


@dataclass(frozen=True, slots=True)
class Policy:
    """The configured defaults a campaign is screened with (from config.yaml)."""

    timezone: str
    consent: dict[str, Literal["opt_in", "opt_out"]]
    caps: dict[str, tuple[int, int]]  # channel -> (count, days)
    holdout: Holdout
    currency: str

    def rules(
        self,
        segment: BaseModel | None,
        channels: list[str],
        caps: dict[str, tuple[int, int]],
        now: datetime,
        zone: ZoneInfo,
    ) -> AudienceRules:
        """Rules for one campaign; its own `caps` override the configured ones."""
        merged = {**self.caps, **caps}
        return AudienceRules(
            segment=segment,
            channels=tuple(
                ChannelRule(
                    channel, self.consent.get(channel, "opt_in"), *merged.get(channel, (-1, 1))
                )
                for channel in channels
            ),
            holdout=self.holdout,
            now=now,
            zone=zone,
        )


@dataclass(frozen=True, slots=True)
class Overview:
    """Everything a plan reads from the database, from one screening pass."""

    funnel: Funnel
    reach: dict[str, int]  # eligible customers also contactable on each follow-up channel
    buyers: int  # eligible customers who ordered in the response window before now
    cells: dict[str, int]  # eligible customers per cell, as a launch would assign them now
    samples: list[tuple[dict[str, Any], dict[str, Any]]]  # (customer, metrics)
