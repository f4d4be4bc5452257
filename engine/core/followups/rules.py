"""A campaign's triggers as follow-up rules, and the time arithmetic they share.

Every bound is inclusive at the trigger's end, to the second: ``{opened:
offer, within: 20m}`` counts an open whose ``occurred_at <= sent_at + 20m``;
``{not_opened: offer, after: 3d}`` fires at ``sent_at + 3d`` unless an open
with ``occurred_at <= sent_at + 3d`` is in the ledger by then. Evaluation
(engine.db.followups) is set-based SQL over the time ranges computed here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final, Literal

from engine.core.campaign.spec import AfterEntry, AfterStep, CampaignSpec, NoEvent, OnEvent

RuleKind = Literal["event", "else", "absence", "after", "entry"]
# What the ledger calls each trigger event (``responded`` reads `responses`).
EVENT_KINDS: Final = {
    "delivered": "delivered",
    "opened": "opened",
    "clicked": "clicked",
    "replied": "replied",
    "bounced": "bounced",
    "responded": "responded",
}
ZERO: Final = timedelta(0)


@dataclass(frozen=True, slots=True)
class Rule:
    """One way a step gets queued for a contact.

    `source` is the step whose send it follows (None for ``after_entry``);
    `wait` is ``within`` / ``after`` / ``delay`` / ``after_entry``; `delay`
    only for event rules (due = event time + delay); `exclusive` is the
    other branch of an event/else pair (one contact gets at most one).
    """

    campaign_id: int
    step: str
    channel: str
    kind: RuleKind
    source: str | None
    event: str | None
    wait: timedelta
    delay: timedelta = ZERO
    link: str | None = None
    exclusive: str | None = None
    expire_after: timedelta | None = None
    cells: tuple[str, ...] = ()  # treated cells that get the step


def rules_of(campaign_id: int, spec: CampaignSpec) -> list[Rule]:
    """Every follow-up rule of `spec`, in step order (an `else` right after its event)."""
    steps = {step.id: step for step in spec.steps}
    found: list[Rule] = []
    for step in spec.steps:
        trigger = step.when
        if trigger is None:
            continue
        base = Rule(
            campaign_id=campaign_id,
            step=step.id,
            channel=step.channel,
            kind="after",
            source=None,
            event=None,
            wait=ZERO,
            exclusive=step.else_ if isinstance(trigger, OnEvent) else None,
            expire_after=step.expire_after,
            cells=cells_getting(spec, step.id),
        )
        found.append(_rule(base, trigger))
        if isinstance(trigger, OnEvent) and step.else_ in steps:
            other = steps[step.else_]
            found.append(
                replace(
                    found[-1],
                    step=other.id,
                    channel=other.channel,
                    kind="else",
                    delay=ZERO,
                    exclusive=step.id,
                    expire_after=other.expire_after,
                    cells=cells_getting(spec, other.id),
                )
            )
    return found


def _rule(base: Rule, trigger: OnEvent | NoEvent | AfterStep | AfterEntry) -> Rule:
    """`base` with what `trigger` says: its kind, source step, event and times."""
    if isinstance(trigger, OnEvent):
        return replace(
            base,
            kind="event",
            source=trigger.step,
            event=trigger.event,
            wait=trigger.within,
            delay=trigger.delay or ZERO,
            link=trigger.link,
        )
    if isinstance(trigger, NoEvent):
        return replace(
            base, kind="absence", source=trigger.step, event=trigger.event, wait=trigger.after
        )
    if isinstance(trigger, AfterStep):
        return replace(base, kind="after", source=trigger.after, wait=trigger.delay)
    return replace(base, kind="entry", wait=trigger.after_entry)


def cells_getting(spec: CampaignSpec, step_id: str) -> tuple[str, ...]:
    """Codes of the test cells whose contacts get `step_id` (controls get nothing)."""
    return tuple(
        code
        for code, cell in spec.groups.cells.items()
        if cell.steps is None or step_id in cell.steps
    )


@dataclass(frozen=True, slots=True)
class Window:
    """The source sends a pass looks at: ``low < sent_at <= high`` (None: unbounded)."""

    low: datetime | None
    high: datetime


def send_window(
    rule: Rule, now: datetime, checked_at: datetime | None, lookback: timedelta
) -> Window:
    """Which source sends (by `sent_at`, or contacts by `entered_at`) this pass evaluates.

    Absence and else rules decide once the wait is over (``sent_at + wait <=
    now``); fixed delays are queued as soon as the source is sent (due
    later). The lower bound is the previous pass's upper bound less
    `lookback`, so a send committed just after a pass is not missed (the
    (contact, step) key makes the overlap harmless); None on a rule's first pass.
    """
    closing = rule.kind in ("absence", "else")
    shift = rule.wait if closing else ZERO
    high = now - shift
    low = None if checked_at is None else checked_at - shift - lookback
    return Window(low, high)


def window_closed(sent_at: datetime, occurred_at: datetime, wait: timedelta) -> bool:
    """True when an event at `occurred_at` is too late for a send at `sent_at` (bound inclusive)."""
    return occurred_at > sent_at + wait


def expiry(due_at: datetime, expire_after: timedelta | None) -> datetime | None:
    """When a follow-up due at `due_at` becomes pointless (None: never)."""
    return None if expire_after is None else due_at + expire_after


def expired_reason(expires_at: datetime | None, now: datetime, allowed: datetime) -> str | None:
    """Why the dispatcher drops a send at `now` whose next allowed time is `allowed`.

    ``expired``: its expiry has passed; ``expired_before_window``: the send
    window or quiet hours open only after it; None: it may still go.
    """
    if expires_at is None:
        return None
    if now >= expires_at:
        return "expired"
    if allowed > expires_at:
        return "expired_before_window"
    return None


@dataclass(frozen=True, slots=True)
class FollowupOptions:
    """Settings of the evaluation (config `followups:`)."""

    count_machine_opens: bool = False
    lookback: timedelta = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Fired:
    """What one pass of one rule did: sends queued, and of those already expired."""

    queued: int
    expired: int = 0
