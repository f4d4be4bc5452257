"""The campaign file: one pydantic model per block, `extra="forbid"` throughout.

Naive times are wall-clock times in the campaign's `schedule.timezone`.
Steps and triggers are tagged unions: a step by its `channel`, a trigger by
the key that names it (``opened:``, ``not_opened:``, ``after:``,
``after_entry:``). Triggers are checked here and run by the follow-up engine.
"""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Final, Literal, Self, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from engine.core.campaign.segment import TAG_MARK, Node, Strict
from engine.core.campaign.values import (
    WEEKDAYS,
    Duration,
    Hours,
    LocalDateTime,
    Share,
    TimeOfDay,
    Weekday,
)

Channel = Literal["email", "sms", "mail", "call"]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
EVENTS: Final = ("delivered", "opened", "clicked", "replied", "responded", "bounced")
ABSENCES: Final = tuple(f"not_{event}" for event in EVENTS if event != "bounced")


class Audience(Strict):
    segment: Node | None = None  # everyone when absent


class CellSpec(Strict):
    share: Share
    vars: dict[str, Any] = Field(default_factory=dict)
    steps: list[Slug] | None = None  # only these steps (default: all)


class Groups(Strict):
    control: Share
    cells: Annotated[dict[Slug, CellSpec], Field(min_length=1)]
    stratify_by: Literal["lifecycle", "rfm_segment", "value_tier", "origin"] | None = None

    @field_validator("cells")
    @classmethod
    def _not_control(cls, cells: dict[str, CellSpec]) -> dict[str, CellSpec]:
        if "control" in cells:
            raise ValueError("'control' is the control group's name; pick another cell code")
        return cells


class Windows(Strict):
    """When sends may go out: applied in each customer's own timezone at launch
    (the campaign's as a fallback); `plan` shows the first opening in the
    campaign timezone."""

    days: Annotated[list[Weekday], Field(min_length=1)] = Field(
        default_factory=lambda: list(WEEKDAYS)
    )
    hours: Hours = (time(9), time(20))


class Schedule(Strict):
    start: LocalDateTime | None = None  # at launch when absent
    timezone: str | None = None  # config `timezone` when absent
    windows: Windows = Windows()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown IANA timezone {value!r}") from None
        return value


class OnEvent(Strict):
    """``{opened: offer, within: 20m}``: the event happened within the window."""

    delivered: Slug | None = None
    opened: Slug | None = None
    clicked: Slug | None = None
    replied: Slug | None = None
    responded: Slug | None = None
    bounced: Slug | None = None
    within: Duration
    delay: Duration | None = None
    link: str | None = None  # clicked: only this link

    @model_validator(mode="after")
    def _one_event(self) -> Self:
        named = [event for event in EVENTS if getattr(self, event) is not None]
        if len(named) != 1:
            raise ValueError(f"name exactly one event of {', '.join(EVENTS)}")
        if self.link is not None and self.clicked is None:
            raise ValueError("link: only goes with clicked")
        return self

    @property
    def event(self) -> str:
        return next(event for event in EVENTS if getattr(self, event) is not None)

    @property
    def step(self) -> str:
        return str(getattr(self, self.event))


class NoEvent(Strict):
    """``{not_opened: offer, after: 3d}``: no such event by send time + wait."""

    not_delivered: Slug | None = None
    not_opened: Slug | None = None
    not_clicked: Slug | None = None
    not_replied: Slug | None = None
    not_responded: Slug | None = None
    after: Duration

    @model_validator(mode="after")
    def _one_event(self) -> Self:
        named = [name for name in ABSENCES if getattr(self, name) is not None]
        if len(named) != 1:
            raise ValueError(f"name exactly one of {', '.join(ABSENCES)}")
        return self

    @property
    def event(self) -> str:
        return next(name for name in ABSENCES if getattr(self, name) is not None)[len("not_") :]

    @property
    def step(self) -> str:
        return str(getattr(self, "not_" + self.event))


class AfterStep(Strict):
    """``{after: offer, delay: 15d}``: a fixed delay after that step was sent."""

    after: Slug
    delay: Duration


class AfterEntry(Strict):
    """``{after_entry: 15d}``: for trigger campaigns, a delay after entry."""

    after_entry: Duration


def _trigger_tag(value: Any) -> str:
    keys = set(value) if isinstance(value, dict) else {type(value).__name__}
    if keys & set(EVENTS) or "OnEvent" in keys:
        return TAG_MARK + "event"
    if keys & set(ABSENCES) or "NoEvent" in keys:
        return TAG_MARK + "absence"
    if "after_entry" in keys or "AfterEntry" in keys:
        return TAG_MARK + "entry"
    return TAG_MARK + "after"


Trigger = Annotated[
    Union[  # noqa: UP007
        Annotated[OnEvent, Tag(TAG_MARK + "event")],
        Annotated[NoEvent, Tag(TAG_MARK + "absence")],
        Annotated[AfterEntry, Tag(TAG_MARK + "entry")],
        Annotated[AfterStep, Tag(TAG_MARK + "after")],
    ],
    Discriminator(_trigger_tag),
]


class BaseStep(Strict):
    id: Slug
    template: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")]
    when: Trigger | None = None  # first steps have none
    expire_after: Duration | None = None  # a late follow-up is skipped
    # An event trigger's alternative: queued when the window closes without the event.
    else_: Slug | None = Field(default=None, alias="else")


class EmailStep(BaseStep):
    channel: Literal["email"]
    categories: Annotated[list[str], Field(max_length=8)] = Field(default_factory=list)


class SmsStep(BaseStep):
    channel: Literal["sms"]


class MailStep(BaseStep):
    channel: Literal["mail"]
    keyline: Annotated[str, Field(max_length=35)] | None = None  # printed keycode prefix


class CallStep(BaseStep):
    channel: Literal["call"]
    hours: Hours = (time(9), time(20))  # calling window, customer's local time


STEP_TYPES: Final = {"email": EmailStep, "sms": SmsStep, "mail": MailStep, "call": CallStep}


def _step_tag(value: Any) -> str | None:
    channel = value.get("channel") if isinstance(value, dict) else getattr(value, "channel", None)
    return TAG_MARK + channel if channel in STEP_TYPES else None


Step = Annotated[
    Annotated[EmailStep, Tag(TAG_MARK + "email")]
    | Annotated[SmsStep, Tag(TAG_MARK + "sms")]
    | Annotated[MailStep, Tag(TAG_MARK + "mail")]
    | Annotated[CallStep, Tag(TAG_MARK + "call")],
    Discriminator(
        _step_tag,
        custom_error_type="channel",
        custom_error_message="channel must be one of email, sms, mail, call",
    ),
]


class ResponseSpec(Strict):
    events: Annotated[
        list[Literal["purchase", "code_redeemed", "reply", "call_disposition"]],
        Field(min_length=1),
    ] = Field(default_factory=lambda: ["purchase", "code_redeemed"])  # type: ignore[arg-type]
    window: Duration = timedelta(days=30)


class Costs(Strict):
    """Cost per message on each channel, in `currency`."""

    email: Annotated[Decimal, Field(ge=0)] = Decimal(0)
    sms: Annotated[Decimal, Field(ge=0)] = Decimal(0)
    mail: Annotated[Decimal, Field(ge=0)] = Decimal(0)
    call: Annotated[Decimal, Field(ge=0)] = Decimal(0)
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None  # base currency

    def per(self, channel: str) -> Decimal:
        return Decimal(getattr(self, channel))


class Cap(Strict):
    count: Annotated[int, Field(ge=0)]
    days: Annotated[int, Field(ge=1)]


class Entry(Strict):
    """Trigger (always-on) campaigns: customers enter when they newly match.

    An entry run happens every `every` (aligned to `at`, wall-clock time in
    the campaign timezone); each customer enters once, or again after
    `reenter_after` since their last entry.
    """

    every: Annotated[Duration, Field(ge=timedelta(hours=1))] = timedelta(days=1)
    at: TimeOfDay | None = None
    reenter_after: Duration | None = None  # once ever when absent


class CampaignSpec(Strict):
    key: Slug
    name: Annotated[str, Field(min_length=1, max_length=300)]
    description: str | None = None
    audience: Audience = Audience()
    groups: Groups
    schedule: Schedule = Schedule()
    steps: Annotated[list[Step], Field(min_length=1)]
    response: ResponseSpec = ResponseSpec()
    costs: Costs = Costs()
    caps: dict[Channel, Cap] = Field(default_factory=dict)  # overrides config caps
    entry: Entry | None = None

    def first_steps(self) -> list[EmailStep | SmsStep | MailStep | CallStep]:
        """Steps sent at launch: those without a trigger that are no step's `else`."""
        alternatives = {step.else_ for step in self.steps}
        return [step for step in self.steps if step.when is None and step.id not in alternatives]

    def entry_channels(self) -> list[str]:
        """Channels a customer must be reachable on to enter the campaign."""
        return sorted({step.channel for step in self.first_steps()})
