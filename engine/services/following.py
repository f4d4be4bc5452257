"""`run_followups`: queue the follow-up steps whose trigger came true by `now`.

One pass evaluates every follow-up rule of every running or paused campaign
(engine.core.followups.rules), each rule in its own transaction and with
one set-based statement from its watermark (engine.db.followups). The sends
it queues go out through the dispatcher like any other, which re-checks
consent, suppressions, caps, windows, quiet hours and expiry at send time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from engine.core.campaign.launch import Launched
from engine.core.campaign.spec import CampaignSpec
from engine.core.followups.rules import Fired, FollowupOptions, Rule, rules_of
from engine.services.launching import stored_spec

LIVE = ("running", "paused")  # a paused campaign keeps deciding; the dispatcher holds its sends


class FollowupStore(Protocol):
    def run(self, rule: Rule, now: datetime, options: FollowupOptions) -> Fired: ...


class Campaigns(Protocol):
    def all(self) -> list[Launched]: ...


@dataclass
class FollowupReport:
    """Per (campaign key, step, rule kind): sends queued; skipped per (key, step, reason)."""

    fired: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    skipped: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    rules: int = 0


@dataclass
class SpecCache:
    """Campaign files as launched, parsed once per spec hash (ticks reuse it)."""

    specs: dict[tuple[int, str], CampaignSpec] = field(default_factory=dict)

    def of(self, campaign: Launched) -> CampaignSpec:
        key = (campaign.id, campaign.spec_hash)
        if key not in self.specs:
            self.specs[key] = stored_spec(campaign)
        return self.specs[key]


def run_followups(
    store: FollowupStore,
    campaigns: Campaigns,
    now: datetime,
    options: FollowupOptions,
    cache: SpecCache | None = None,
) -> FollowupReport:
    """One pass over every follow-up rule of the live campaigns; returns what fired."""
    report = FollowupReport()
    cache = cache if cache is not None else SpecCache()
    for campaign in campaigns.all():
        if campaign.status not in LIVE:
            continue
        for rule in rules_of(campaign.id, cache.of(campaign)):
            report.rules += 1
            fired = store.run(rule, now, options)
            if fired.queued - fired.expired:
                report.fired[(campaign.key, rule.step, rule.kind)] += fired.queued - fired.expired
            if fired.expired:
                report.skipped[(campaign.key, rule.step, "expired")] += fired.expired
    return report
