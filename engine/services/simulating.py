"""`simulate_campaign`: a time-travel dry run of one campaign, on a throwaway database.

The engine runs for real on the copy: the launch, dispatch passes through
the outbox, follow-up passes, and the callbacks a response model makes up
(`engine.core.simulation`), posted to the real endpoints. So the follow-up
rules, windows, quiet hours, caps, consent and expiry act as in production.

The clock jumps from one moment of interest to the next: a send falling
due, a simulated reaction, the end of an absence rule's wait. Moments are
rounded up to the next `tick` after the start (as the scheduler's ticks
would see them), and every tick with something to do runs, in this order:
post the reactions that happened by then, one follow-up pass, one dispatch
pass, then plan the reactions to what went out.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Protocol

from pydantic import ValidationError

from engine.core.campaign.spec import CampaignSpec
from engine.core.followups.rules import rules_of
from engine.core.simulation.model import ResponseModel, check_model
from engine.core.simulation.reactions import Planned, SentMessage, plan_reactions
from engine.core.simulation.timeline import Timeline
from engine.errors import InvalidDocument, PermanentError
from engine.services.dispatching import DispatchReport
from engine.services.following import FollowupReport
from engine.services.launching import LaunchReport
from engine.yamldoc import load_yaml, violations


def read_model(text: str, filename: str, spec: CampaignSpec) -> ResponseModel:
    """The response model in `text`; InvalidDocument lists every violation (file:line:col path: why)."""
    doc = load_yaml(text, filename)
    try:
        model = ResponseModel.model_validate(doc.data if doc.data is not None else {})
    except ValidationError as exc:
        raise InvalidDocument(violations(exc, doc)) from exc
    problems = [doc.describe(path, message) for path, message in check_model(model, spec)]
    if problems:
        raise InvalidDocument(problems)
    return model


class World(Protocol):
    """The engine on the throwaway database, at a given moment."""

    def launch(self, now: datetime) -> LaunchReport: ...
    def follow_up(self, now: datetime) -> FollowupReport: ...
    def dispatch(self, now: datetime) -> DispatchReport: ...
    def next_due(self) -> datetime | None: ...


class Outbox(Protocol):
    def campaign_id(self, campaign_key: str) -> int | None: ...
    def launched_at(self, campaign_key: str) -> datetime | None: ...
    def sent(
        self, campaign_key: str, since: datetime | None, until: datetime
    ) -> list[SentMessage]: ...


class Callbacks(Protocol):
    def post(self, planned: Sequence[Planned], now: datetime) -> None: ...


@dataclass(frozen=True)
class Run:
    """How to simulate: from `start` for `days`, `hourly_days` of them hour by hour."""

    start: datetime
    days: int
    zone: tzinfo  # the campaign's, for the calendar of the timeline
    seed: int = 42
    tick: timedelta = timedelta(minutes=5)
    hourly_days: int = 1


@dataclass
class _Agenda:
    """What is still to come: reactions and the ends of absence waits, by time."""

    reactions: list[tuple[datetime, int, Planned]] = field(default_factory=list)
    deadlines: list[datetime] = field(default_factory=list)
    count: int = 0

    def add(self, planned: Sequence[Planned]) -> None:
        for p in planned:
            self.count += 1
            heapq.heappush(self.reactions, (p.at, self.count, p))

    def due(self, now: datetime) -> list[Planned]:
        found = []
        while self.reactions and self.reactions[0][0] <= now:
            found.append(heapq.heappop(self.reactions)[2])
        while self.deadlines and self.deadlines[0] <= now:
            heapq.heappop(self.deadlines)
        return found

    def next(self) -> datetime | None:
        first = [self.reactions[0][0]] if self.reactions else []
        return min([*first, *self.deadlines[:1]], default=None)


def refuse_if_launched(outbox: Outbox, key: str) -> None:
    """A simulation launches the campaign on the copy; one already launched
    would only replay its own launch (its cells, and no new sends)."""
    launched = outbox.launched_at(key)
    if launched is not None:
        raise PermanentError(
            f"campaign {key!r} was already launched, on {launched:%Y-%m-%d %H:%M} UTC;"
            " simulate tries a campaign before its launch. To try a variant, give the file"
            f" another key; for this campaign's results, run `campaign report {key}`."
        )


def simulate_campaign(
    spec: CampaignSpec,
    model: ResponseModel,
    world: World,
    outbox: Outbox,
    callbacks: Callbacks,
    run: Run,
    progress: Callable[[float], None] = lambda done: None,
) -> Timeline:
    """Launch `spec` at `run.start` and live through `run.days` days; returns the timeline."""
    timeline = Timeline(run.start, run.days, run.zone, run.hourly_days)
    launched = world.launch(run.start)
    for code, control, _share, size in launched.counts.cells:
        timeline.cells[code] = control
        timeline.contacts[code] = size
    campaign_id = outbox.campaign_id(spec.key)
    assert campaign_id is not None, "the launch stored the campaign"
    waits: dict[str, list[timedelta]] = {}
    for rule in rules_of(campaign_id, spec):
        if rule.kind in ("absence", "else") and rule.source:
            waits.setdefault(rule.source, []).append(rule.wait)
    agenda, end = _Agenda(), run.start + timedelta(days=run.days)
    now, seen = run.start, None
    while True:
        timeline.ticks += 1
        happened = agenda.due(now)
        if happened:
            callbacks.post(happened, now)
            timeline.reacted(happened)
        _followed(timeline, world.follow_up(now), spec.key)
        _dispatched(timeline, world.dispatch(now), campaign_id)
        went = outbox.sent(spec.key, seen, now)
        seen = now
        timeline.sent(went)
        for message in went:
            reactions = model.reactions(message.channel, message.step, message.cell)
            agenda.add([p for p in plan_reactions(message, reactions, run.seed) if p.at <= end])
            for wait in waits.get(message.step, []):
                heapq.heappush(agenda.deadlines, message.sent_at + wait)
        progress(min((now - run.start) / (end - run.start), 1.0))
        coming = [t for t in (world.next_due(), agenda.next()) if t is not None]
        if not coming or min(coming) > end:
            break
        now = max(_tick_at(min(coming), run.start, run.tick), now + run.tick)
        if now > end:
            break
    progress(1.0)
    return timeline


def _tick_at(moment: datetime, start: datetime, tick: timedelta) -> datetime:
    """The first tick (start + k * tick) at or after `moment`."""
    ticks = max(0, -((start - moment) // tick))
    return start + ticks * tick


def _followed(timeline: Timeline, report: FollowupReport, key: str) -> None:
    for (campaign, step, kind), n in report.fired.items():
        if campaign == key:
            timeline.fired[(step, kind)] += n
    for (campaign, step, why), n in report.skipped.items():
        if campaign == key:
            timeline.fired[(step, f"not queued: {why}")] += n


def _dispatched(timeline: Timeline, report: DispatchReport, campaign_id: int) -> None:
    for (campaign, step, cell, reason), n in report.held.items():
        if campaign == campaign_id:
            timeline.held[(step, cell, reason)] += n
