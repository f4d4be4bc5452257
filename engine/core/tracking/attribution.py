"""Which contact a response is credited to: the one rule, pure and to the second.

Every contact (treated or control) of a campaign has a response window
``[start, start + response.window)``, closed at the start and open at the end:

- ``start`` of a treated contact is the earliest ``sent_at`` of its sends
  (its first step; for mail the drop's ``sent_at``, not the in-home date);
  if nothing of it went (skipped at send time, failed, still queued), the
  earliest ``due_at``: intent to treat counts it from when it was due.
- ``start`` of a control contact (no sends) is when its first step would
  have been due: the first send window of the campaign at or after
  ``max(campaign start, contact entered_at)`` in the customer's timezone
  (the campaign's as a fallback), computed by the same function the launch
  uses for treated sends. Both arms are therefore counted from the same
  scheduled moment; a treated window starts later only by the dispatch lag.

A response counts for a campaign only when its kind is in the campaign's
``response.events`` and it falls inside the contact's window. Among the
contacts it counts for, direct evidence (a response code, a keycode of the
contact's cell, a send id) wins over the customer match; within each, the
contact whose window started last wins, ties to the higher contact id.
Otherwise it is kept with attribution ``none``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

from engine.core.campaign.preview import first_send
from engine.core.campaign.spec import CampaignSpec, MailStep, Windows
from engine.core.sending.due import zone_of

Attribution = Literal["direct", "inferred", "none"]
KINDS: Final = ("purchase", "code_redeemed", "reply", "call_disposition")
COUNTED: Final = ("treated", "held_out")  # contacts in the experiment; launch-suppressed are not


@dataclass(frozen=True, slots=True)
class CampaignRule:
    """What attribution needs of a campaign as launched."""

    campaign_id: int
    key: str
    events: frozenset[str]
    window: timedelta
    starts_at: datetime
    zone: ZoneInfo  # the campaign timezone
    windows: Windows  # send windows, for the control clock
    keycodes: Mapping[str, str] = field(default_factory=dict)  # keycode -> cell code


@dataclass(frozen=True, slots=True)
class ContactClock:
    """A contact with what its window is computed from."""

    contact_id: int
    campaign_id: int
    customer_id: int
    cell: str | None
    status: str  # treated | held_out
    entered_at: datetime
    first_sent_at: datetime | None
    first_due_at: datetime | None
    timezone: str | None  # the customer's


@dataclass(frozen=True, slots=True)
class Claim:
    """A response to credit: its kind, time, customer and direct evidence."""

    kind: str
    occurred_at: datetime
    customer_id: int | None
    direct: tuple[int, ...] = ()  # contact ids named by a response code or a send id
    cell: tuple[int, str] | None = None  # (campaign id, cell code) named by a keycode

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")


@dataclass(frozen=True, slots=True)
class Credit:
    attribution: Attribution
    contact_id: int | None = None
    campaign_id: int | None = None


NONE: Final = Credit("none")


def rule_of(
    campaign_id: int, spec: CampaignSpec, starts_at: datetime, zone: ZoneInfo
) -> CampaignRule:
    """The attribution rule of a launched campaign (`zone`: its timezone)."""
    return CampaignRule(
        campaign_id=campaign_id,
        key=spec.key,
        events=frozenset(spec.response.events),
        window=spec.response.window,
        starts_at=starts_at,
        zone=ZoneInfo(spec.schedule.timezone) if spec.schedule.timezone else zone,
        windows=spec.schedule.windows,
        keycodes=keycodes(spec),
    )


def keycodes(spec: CampaignSpec) -> dict[str, str]:
    """Keycode -> cell for the campaign's mail steps, as printed on the pieces.

    The same formula as the print file (engine.services.composing: keyline
    or campaign key, a dash, the cell code, upper case, at most 35 characters).
    """
    found: dict[str, str] = {}
    for step in spec.steps:
        if not isinstance(step, MailStep):
            continue
        for code, cell in spec.groups.cells.items():
            if cell.steps is None or step.id in cell.steps:
                found[keycode(step.keyline or spec.key, code)] = code
    return found


def keycode(prefix: str, cell: str) -> str:
    return f"{prefix}-{cell}".upper()[:35]


def normalize_keycode(text: str) -> str:
    return text.strip().upper()


def window_start(contact: ContactClock, rule: CampaignRule) -> datetime:
    """When the contact's response window opens (see the module docstring)."""
    if contact.first_sent_at is not None:
        return contact.first_sent_at
    if contact.first_due_at is not None:
        return contact.first_due_at
    local = zone_of(contact.timezone) or rule.zone
    start = max(rule.starts_at, contact.entered_at).astimezone(local)
    return first_send(start, rule.windows).astimezone(UTC)


def counts_for(
    claim: Claim, contact: ContactClock, rule: CampaignRule | None, start: datetime | None = None
) -> bool:
    """True when `claim` counts for the contact: kind listed, inside the window
    (`start`: the contact's window start when already known)."""
    if rule is None or claim.kind not in rule.events or contact.status not in COUNTED:
        return False
    opens = window_start(contact, rule) if start is None else start
    return opens <= claim.occurred_at < opens + rule.window


def credit(
    claim: Claim,
    contacts: Iterable[ContactClock],
    rules: Mapping[int, CampaignRule],
    starts: Mapping[int, datetime] | None = None,
) -> Credit:
    """The contact `claim` is credited to among `contacts` (its direct ones and
    the customer's), or `NONE`. `starts`: window starts by contact id, if known."""
    direct: list[tuple[datetime, int, ContactClock]] = []
    inferred: list[tuple[datetime, int, ContactClock]] = []
    for contact in contacts:
        rule = rules.get(contact.campaign_id)
        if rule is None:
            continue
        start = starts[contact.contact_id] if starts else window_start(contact, rule)
        if not counts_for(claim, contact, rule, start):
            continue
        entry = (start, contact.contact_id, contact)
        mine = claim.customer_id is not None and contact.customer_id == claim.customer_id
        if contact.contact_id in claim.direct or (mine and _in_cell(claim, contact)):
            direct.append(entry)
        elif mine:
            inferred.append(entry)
    for kind, found in (("direct", direct), ("inferred", inferred)):
        if found:
            best = max(found, key=lambda e: (e[0], e[1]))[2]
            return Credit(kind, best.contact_id, best.campaign_id)  # type: ignore[arg-type]
    return NONE


def _in_cell(claim: Claim, contact: ContactClock) -> bool:
    """A keycode is cell-level: it names the customer's contact in that cell."""
    return claim.cell is not None and claim.cell == (contact.campaign_id, contact.cell)


def credit_all(
    claims: Sequence[Claim],
    contacts: Sequence[ContactClock],
    rules: Mapping[int, CampaignRule],
) -> list[Credit]:
    """`credit` for a batch: contacts grouped once by customer and by id, and
    their windows computed once."""
    by_customer: dict[int, list[ContactClock]] = {}
    by_id: dict[int, ContactClock] = {}
    starts: dict[int, datetime] = {}  # a contact's window is computed once per batch
    for contact in contacts:
        by_customer.setdefault(contact.customer_id, []).append(contact)
        by_id[contact.contact_id] = contact
        if contact.campaign_id in rules:
            starts[contact.contact_id] = window_start(contact, rules[contact.campaign_id])
    out = []
    for claim in claims:
        mine = list(by_customer.get(claim.customer_id, [])) if claim.customer_id else []
        seen = {c.contact_id for c in mine}
        mine += [by_id[i] for i in claim.direct if i in by_id and i not in seen]
        out.append(credit(claim, mine, rules, starts))
    return out


def keycode_cell(text: str, rules: Iterable[CampaignRule]) -> tuple[CampaignRule, str] | None:
    """The campaign and cell a printed keycode names, or None."""
    wanted = normalize_keycode(text)
    for rule in rules:
        cell = rule.keycodes.get(wanted)
        if cell is not None:
            return rule, cell
    return None
