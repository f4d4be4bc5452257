"""`dispatch_due`: turn due sends into messages, exactly once, on time, within the law.

One pass: reap expired claims, resolve old unknowns by policy, then per
channel claim batches of due sends and for each batch

1. re-check consent, suppressions and caps (a STOP after launch wins),
2. defer what falls outside the send window or quiet hours,
3. render, pace by the shared throttle, commit the handover,
4. hand the messages to the channel and settle every outcome,
5. apply side effects (opt-outs, suppressions, pauses, alerts).

Steps 4-5 run through a `Carrier`: the provider round trip of one chunk
overlaps the claiming and composing of the next, in the same order of
records (see `engine.services.carrying`). A throttled channel claims one
paced chunk at a time and, in steady state, reserves the next chunk's slot
before claiming it.

The state machine is in `engine.core.sending.states`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from engine.core.campaign.eligibility import ChannelRule, Policy
from engine.core.campaign.launch import Launched
from engine.core.campaign.spec import CallStep, CampaignSpec
from engine.core.followups.rules import expired_reason
from engine.core.sending.checks import Facts, reasons, tokens_of
from engine.core.sending.due import Due, zone_of
from engine.core.sending.message import Message, Outcome
from engine.core.sending.states import RetryPolicy, Settled
from engine.core.sending.throttle import largest_batch
from engine.core.sending.windows import held_by, quiet_hours_for
from engine.errors import TemplateError
from engine.services.carrying import Carrier
from engine.services.composing import Composer
from engine.services.launching import stored_spec
from engine.services.ports import Channel

BURST_SECONDS = 0.2  # a throttled channel's reservations: 0.2 s of its rate at a time


class Outbox(Protocol):
    def claim(
        self, channel: str, now: datetime, limit: int, lease: timedelta, worker: str
    ) -> list[Due]: ...
    def hand_over(self, ids: Sequence[int], now: datetime, worker: str) -> None: ...
    def settle(self, settled: Sequence[Settled], now: datetime, worker: str) -> None: ...
    def defer(self, until: Sequence[tuple[int, datetime]], now: datetime, worker: str) -> None: ...
    def skip(self, reasons: dict[int, str], now: datetime, worker: str) -> None: ...
    def reap(self, now: datetime) -> tuple[int, int]: ...
    def resolve_unknown(self, now: datetime, grace: timedelta, resend: bool) -> int: ...


class SendChecks(Protocol):
    def facts(
        self,
        channel: str,
        customers: Sequence[int],
        tokens: Sequence[str],
        since: datetime,
        exclude: Sequence[int],
    ) -> Facts: ...


class Effects(Protocol):
    def apply(
        self, results: Sequence[tuple[Due, Outcome]], now: datetime, pause_after: int
    ) -> list[tuple[int, str]]: ...


class Pacer(Protocol):
    def reserve(self, channel: str, count: int, now: float, rate: float) -> float: ...


class Campaigns(Protocol):
    def all(self) -> list[Launched]: ...
    def start_due(self, now: datetime) -> list[str]: ...


@dataclass(frozen=True)
class DispatchRules:
    """The dispatcher's settings, as typed values."""

    worker: str
    batch_size: int
    lease: timedelta
    retry: RetryPolicy
    pause_after_errors: int
    unknown_grace: timedelta
    resend_unknown: bool
    throttle: Mapping[str, float]  # channel -> messages per second
    quiet_hours: Mapping[str, Mapping[str, tuple]]  # channel -> country -> hours
    policy: Policy
    max_batches: int = 1_000  # per channel per pass


@dataclass(frozen=True)
class Ports:
    outbox: Outbox
    checks: SendChecks
    effects: Effects
    pacer: Pacer
    campaigns: Campaigns
    composer: Composer


@dataclass
class DispatchReport:
    states: Counter[tuple[str, str]] = field(default_factory=Counter)  # (channel, state)
    skipped: Counter[str] = field(default_factory=Counter)  # reason
    deferred: int = 0
    # (campaign id, step, cell, reason) of sends skipped or deferred (deferred_send_window, ...)
    held: Counter[tuple[int, str, str, str]] = field(default_factory=Counter)
    requeued: int = 0  # expired claims that never reached a provider
    unknown: int = 0  # expired claims that may have
    resolved: int = 0  # unknowns resolved by policy
    started: list[str] = field(default_factory=list)  # campaigns whose start came
    paused: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def dispatch_due(
    ports: Ports,
    channels: Mapping[str, Channel],
    rules: DispatchRules,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
) -> DispatchReport:
    """One dispatch pass over every channel; returns what happened."""
    report = DispatchReport()
    now = clock()
    report.started = ports.campaigns.start_due(now)
    report.requeued, report.unknown = ports.outbox.reap(now)
    report.resolved = ports.outbox.resolve_unknown(now, rules.unknown_grace, rules.resend_unknown)
    specs = _Specs(ports.campaigns)
    for name, channel in channels.items():
        rule = (rules.worker, rules.retry, rules.pause_after_errors)
        carrier = Carrier(channel, ports.outbox, ports.effects, clock, rule)
        try:
            rate, limit = rules.throttle.get(name), _claim_size(rules, name)
            for _ in range(rules.max_batches):
                batch = ports.outbox.claim(name, clock(), limit, rules.lease, rules.worker)
                if not batch:
                    break
                _batch(ports, carrier, rules, specs, batch, clock, sleep, report)
                if rate and len(batch) == limit and carrier.ahead is None:
                    # More is likely due: reserve the next chunk now, so that
                    # claiming and composing it overlap the wait for its slot.
                    carrier.ahead = ports.pacer.reserve(name, limit, clock().timestamp(), rate)
        finally:
            carrier.close()  # the last chunk in flight is settled even if a batch failed
            report.states.update({(name, state): n for state, n in carrier.states.items()})
            report.paused += carrier.reasons
        report.files += channel.flush()
    return report


def _claim_size(rules: DispatchRules, way: str) -> int:
    """Sends to claim at once: the batch size, or one paced chunk of a throttled channel.

    A paced channel loses the time it spends claiming and composing beyond
    the slot of the chunk in flight (the throttle forgets the past): one
    chunk is prepared well within one slot. And a big batch at a low rate
    could outlive its lease while still being sent.
    """
    rate = rules.throttle.get(way)
    return min(rules.batch_size, largest_batch(rate, BURST_SECONDS)) if rate else rules.batch_size


def _batch(
    ports: Ports,
    carrier: Carrier,
    rules: DispatchRules,
    specs: _Specs,
    batch: list[Due],
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
    report: DispatchReport,
) -> None:
    now = clock()
    worker = rules.worker
    why = _checks(ports, rules, specs, batch, now)
    ports.outbox.skip(why, now, worker)
    ready, later, late = [], [], {}
    for due in batch:
        if due.send_id in why:
            continue
        spec = specs[due.campaign_id]
        allowed, wait = _allowed(due, spec, rules, ports.composer.zone, now)
        expired = expired_reason(due.expires_at, now, allowed)
        if expired:  # a follow-up that is pointless once late
            late[due.send_id] = expired
        elif allowed > now:
            later.append((due.send_id, allowed))
            why[due.send_id] = f"deferred_{wait}"
        else:
            ready.append(due)
    ports.outbox.skip(late, now, worker)
    ports.outbox.defer(later, now, worker)
    report.deferred += len(later)
    why |= late
    report.skipped.update(r for r in why.values() if not r.startswith("deferred_"))
    report.held.update(
        (d.campaign_id, d.step, d.cell, why[d.send_id]) for d in batch if d.send_id in why
    )
    messages, failed = _compose(ports.composer, specs, ready, now)
    if failed:
        ports.outbox.settle(failed, now, worker)
        report.states.update(
            (due.channel, "failed") for due in ready if due.send_id in {f.send_id for f in failed}
        )
    _send(ports, carrier, rules, messages, clock, sleep)


def _checks(
    ports: Ports, rules: DispatchRules, specs: _Specs, batch: list[Due], now: datetime
) -> dict[int, str]:
    channel = batch[0].channel
    by_campaign = {
        due.campaign_id: _rule(specs[due.campaign_id], rules.policy, channel, now) for due in batch
    }
    widest = max((rule.cap_days for rule in by_campaign.values()), default=1)
    facts = ports.checks.facts(
        channel,
        [due.customer["id"] for due in batch],
        tokens_of(batch),
        now - timedelta(days=widest),
        [due.send_id for due in batch],
    )
    return reasons(batch, by_campaign, facts, now)


def _rule(spec: CampaignSpec, policy: Policy, channel: str, now: datetime) -> ChannelRule:
    caps = {c: (cap.count, cap.days) for c, cap in spec.caps.items()}
    zone = ZoneInfo(spec.schedule.timezone or policy.timezone)
    return policy.rules(None, [channel], caps, now, zone).channels[0]


def _allowed(
    due: Due, spec: CampaignSpec, rules: DispatchRules, fallback: ZoneInfo, now: datetime
) -> tuple[datetime, str | None]:
    """The first moment at or after now that the send may go to this customer, and what holds it."""
    step = next(s for s in spec.steps if s.id == due.step)
    zone = zone_of(due.customer.get("timezone")) or zone_of(spec.schedule.timezone) or fallback
    windows = spec.schedule.windows
    hours = step.hours if isinstance(step, CallStep) else windows.hours
    quiet = quiet_hours_for(rules.quiet_hours, due.channel, due.customer.get("country"))
    return held_by(now, zone, windows.days, hours, quiet)


def _compose(
    composer: Composer, specs: _Specs, ready: list[Due], now: datetime
) -> tuple[list[tuple[Due, Message]], list[Settled]]:
    messages, failed = [], []
    drafts = composer.compose_all([(due, specs[due.campaign_id]) for due in ready], now)
    for due, draft in zip(ready, drafts, strict=True):
        if isinstance(draft, TemplateError):
            failed.append(Settled(due.send_id, "failed", None, None, str(draft)[:500], None))
        else:
            messages.append((due, draft))
    return messages, failed


def _send(
    ports: Ports,
    carrier: Carrier,
    rules: DispatchRules,
    messages: list[tuple[Due, Message]],
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
) -> None:
    """Hand `messages` to the carrier in throttled chunks (it settles them in order)."""
    way = messages[0][0].channel if messages else ""  # email | sms | mail | call
    rate = rules.throttle.get(way)
    size = largest_batch(rate, BURST_SECONDS) if rate else max(1, len(messages))
    for start in range(0, len(messages), size):
        chunk = messages[start : start + size]
        if rate:
            begin = carrier.ahead
            if begin is None:
                begin = ports.pacer.reserve(way, len(chunk), clock().timestamp(), rate)
            carrier.ahead = None
            wait = begin - clock().timestamp()
            if wait > 0:
                sleep(wait)
        carrier.send(chunk)


class _Specs:
    """Campaign files as launched, parsed once per pass."""

    def __init__(self, campaigns: Campaigns) -> None:
        self._campaigns = campaigns
        self._specs: dict[int, CampaignSpec] = {}

    def __getitem__(self, campaign_id: int) -> CampaignSpec:
        if campaign_id not in self._specs:
            for launched in self._campaigns.all():
                self._specs.setdefault(launched.id, stored_spec(launched))
        return self._specs[campaign_id]
