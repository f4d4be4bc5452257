"""Rules that turn order history into RFM scores, segments and lifecycle stages.

Pure data: the database adapter compiles these rules into one set-based SQL
statement, so scoring a million customers never loops in Python.

Scores (1-5) are quintiles by cumulative share, with ties sharing a score:
``score = ceil(5 * share of buyers whose value is no better)``. The most recent,
most frequent and biggest-spending fifth of buyers scores 5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class SegmentRule:
    name: str
    r: tuple[int, int]  # inclusive score range
    f: tuple[int, int]


# The classic R x F grid: every (R, F) pair falls in exactly one segment.
RFM_SEGMENTS: Final = (
    SegmentRule("champions", (5, 5), (4, 5)),
    SegmentRule("loyal", (3, 4), (4, 5)),
    SegmentRule("potential_loyalists", (4, 5), (2, 3)),
    SegmentRule("new_customers", (5, 5), (1, 1)),
    SegmentRule("promising", (4, 4), (1, 1)),
    SegmentRule("need_attention", (3, 3), (3, 3)),
    SegmentRule("about_to_sleep", (3, 3), (1, 2)),
    SegmentRule("cant_lose", (1, 2), (5, 5)),
    SegmentRule("at_risk", (1, 2), (3, 4)),
    SegmentRule("hibernating", (1, 2), (1, 2)),
)
LIFECYCLE_STAGES: Final = ("prospect", "new", "active", "at_risk", "lapsed", "lost")
VALUE_TIERS: Final = ("top", "high", "medium", "low")


@dataclass(frozen=True, slots=True)
class MetricRules:
    """Everything the metrics refresh needs to know, from config."""

    new_days: int
    active_days: int
    at_risk_days: int
    lapsed_days: int
    tier_shares: tuple[float, float, float]  # cumulative buyer shares of top, high, medium
    segments: tuple[SegmentRule, ...] = RFM_SEGMENTS


def segment_for(r: int, f: int, segments: tuple[SegmentRule, ...] = RFM_SEGMENTS) -> str:
    """The segment of an (R, F) score pair (the SQL does the same in bulk)."""
    for rule in segments:
        if rule.r[0] <= r <= rule.r[1] and rule.f[0] <= f <= rule.f[1]:
            return rule.name
    raise ValueError(f"no segment covers R={r} F={f}")


def lifecycle_for(
    days_since_first: int | None, recency_days: int | None, rules: MetricRules
) -> str:
    """The lifecycle stage from days since first and last order (None: never ordered)."""
    if recency_days is None or days_since_first is None:
        return "prospect"
    if days_since_first <= rules.new_days:
        return "new"
    if recency_days <= rules.active_days:
        return "active"
    if recency_days <= rules.at_risk_days:
        return "at_risk"
    if recency_days <= rules.lapsed_days:
        return "lapsed"
    return "lost"
