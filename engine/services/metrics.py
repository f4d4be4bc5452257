"""Refresh derived customer metrics and summarise the customer base."""

from __future__ import annotations

from datetime import datetime

from engine.core.scoring import MetricRules
from engine.services.ports import MetricsStore


def refresh_metrics(store: MetricsStore, rules: MetricRules, as_of: datetime) -> int:
    """Recompute every customer's RFM scores, lifecycle and value tier as of `as_of`."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    return store.refresh(rules, as_of)
