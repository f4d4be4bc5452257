"""Use cases: responses credited to contacts, and the business callbacks that bring them.

`credit_responses` is the one path every response takes (shop webhook,
order import, call dispositions): direct evidence is resolved (a response
code decoded with its check character, a keycode matched to its campaign and
cell, a send id), the contact history of the whole batch is read at once and
`engine.core.tracking.attribution.credit_all` decides. Responses are stored
once per (source, source_ref, kind), so replays add nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from engine.core.campaign.launch import Launched
from engine.core.codes import CodeBook
from engine.core.tracking.attribution import (
    CampaignRule,
    Claim,
    ContactClock,
    credit_all,
    keycode_cell,
    rule_of,
)
from engine.errors import EngineError
from engine.services.launching import stored_spec


class SendLike(Protocol):
    @property
    def contact_id(self) -> int: ...
    @property
    def customer_id(self) -> int: ...
    @property
    def channel(self) -> str: ...


class History(Protocol):
    """Contact history and the responses table, inside one transaction."""

    def clocks(
        self, customers: Collection[int], contacts: Collection[int]
    ) -> list[ContactClock]: ...
    def sends(self, ids: Sequence[int]) -> Mapping[int, SendLike]: ...
    def insert(self, rows: list[dict[str, Any]]) -> Counter[str]: ...


@dataclass(frozen=True, slots=True)
class Incoming:
    """A business outcome before attribution."""

    source: str
    source_ref: str
    kind: str
    occurred_at: datetime
    customer_id: int | None = None
    code: str | None = None  # a response code or a keycode, as given
    send_id: int | None = None
    value_cents: int | None = None
    value: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


def campaign_rules(campaigns: Iterable[Launched], zone: ZoneInfo) -> dict[int, CampaignRule]:
    """Attribution rules of the launched campaigns, from their files as launched.

    A campaign whose stored file no longer parses (history loaded from
    elsewhere) has no rule: nothing is credited to it.
    """
    rules = {c.id: _rule(c, zone) for c in campaigns}
    return {key: rule for key, rule in rules.items() if rule is not None}


@lru_cache(maxsize=1024)
def _rule(campaign: Launched, zone: ZoneInfo) -> CampaignRule | None:
    # Cached per campaign row (file and start included): every webhook call
    # needs the rules, and parsing a campaign file is the slow part.
    try:
        spec = stored_spec(campaign)
    except (ValueError, EngineError):  # pydantic's ValidationError is a ValueError
        return None
    return rule_of(campaign.id, spec, campaign.starts_at, zone)


@dataclass
class _Direct:
    contacts: tuple[int, ...] = ()
    cell: tuple[int, str] | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def _direct(item: Incoming, rules: Mapping[int, CampaignRule], codes: CodeBook) -> _Direct:
    """What a code says: a keycode (exact, checked first) or a response code."""
    if item.code is None:
        return _Direct()
    found = keycode_cell(item.code, rules.values())
    if found is not None:
        rule, cell = found
        return _Direct(
            (), (rule.campaign_id, cell), {"keycode_campaign": rule.key, "keycode_cell": cell}
        )
    contact = codes.contact_id(item.code)
    if contact is None:
        return _Direct(detail={"code_invalid": True})
    return _Direct((contact,))


def credit_responses(
    history: History,
    rules: Mapping[int, CampaignRule],
    codes: CodeBook,
    items: Sequence[Incoming],
    now: datetime,
) -> Counter[str]:
    """Attribute and store `items`; returns the newly stored ones by attribution."""
    if not items:
        return Counter()
    directs = [_direct(item, rules, codes) for item in items]
    sends = history.sends([i.send_id for i in items if i.send_id is not None])
    for item, direct in zip(items, directs, strict=True):
        if item.send_id in sends:
            direct.contacts += (sends[item.send_id].contact_id,)
    clocks = _clocks(history, items, directs, {s.customer_id for s in sends.values()})
    owner = {c.contact_id: c.customer_id for c in clocks}
    claims, rows = [], []
    for item, direct in zip(items, directs, strict=True):
        customer = item.customer_id
        if customer is None:  # a code or send names the customer
            customer = next((owner[c] for c in direct.contacts if c in owner), None)
        claims.append(Claim(item.kind, item.occurred_at, customer, direct.contacts, direct.cell))
        rows.append(_row(item, customer, item.send_id in sends, direct.detail, now))
    for row, claim, credit in zip(rows, claims, credit_all(claims, clocks, rules), strict=True):
        row.update(
            attribution=credit.attribution,
            contact_id=credit.contact_id,
            campaign_id=credit.campaign_id,
        )
        if claim.direct and credit.attribution != "direct":
            # named by a code or send, but outside that contact's window or kinds
            row["detail"]["named_contact"] = claim.direct[0]
    return history.insert(rows)


def _clocks(
    history: History, items: Sequence[Incoming], directs: Sequence[_Direct], more: set[int]
) -> list[ContactClock]:
    """The batch's contact history: its customers' contacts and the contacts named.

    A second read only when a code names a customer the batch did not, so that
    the customer's other contacts can still be matched if the named one does
    not count.
    """
    customers = {i.customer_id for i in items if i.customer_id is not None} | more
    named = {c for d in directs for c in d.contacts}
    clocks = history.clocks(customers, named)
    owners = {c.customer_id for c in clocks if c.contact_id in named} - customers
    return clocks + history.clocks(owners, ()) if owners else clocks


def _row(
    item: Incoming, customer: int | None, known_send: bool, extra: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "source": item.source[:100],
        "source_ref": item.source_ref[:200],
        "kind": item.kind,
        "customer_id": customer,
        "send_id": item.send_id if known_send else None,
        "occurred_at": item.occurred_at,
        "recorded_at": now,
        "value_cents": item.value_cents,
        "code": item.code[:64] if item.code else None,
        "value": item.value[:200] if item.value else None,
        "detail": {**item.detail, **extra},
    }


class PendingOrders(Protocol):
    def credit_uncontacted(
        self, source: str, batch_id: int | None, now: datetime
    ) -> tuple[int, bool]: ...
    def pending_orders(
        self, source: str, batch_id: int | None, after: int, limit: int
    ) -> tuple[Sequence[Any], int | None]: ...


class OrderHistory(History, PendingOrders, Protocol):
    """The order-import hook's view of one transaction."""


class Units(Protocol):
    def unit(self) -> Any:  # a context manager yielding an OrderHistory
        ...


def credit_orders(
    units: Units,
    rules: Mapping[int, CampaignRule],
    codes: CodeBook,
    source: str,
    now: datetime,
    batch_id: int | None = None,
    page: int = 5000,
    *,
    written: int | None = None,
) -> Counter[str]:
    """Purchase responses for the orders of import batch `batch_id` (None: for
    every order of `source` that has none yet).

    First one set-based statement credits ``none`` to every order whose
    customer has no counted contact (nothing else could claim it); then, only
    if orders of contacted customers are left, a page of orders, one
    contact-history read and one insert per transaction: 100k orders are 20
    pages of a few statements each. Orders already credited (posted by the
    shop too) are kept as they are.

    `written`: the import wrote the ``none`` responses with its batches,
    this many, because no contact counted then; nothing is left to credit.
    """
    if written is not None:
        return +Counter(none=written)
    with units.unit() as history:
        inserted, left = history.credit_uncontacted(source, batch_id, now)
    total: Counter[str] = +Counter(none=inserted)  # unary plus: no zero counts
    if not left:
        return total
    after = 0
    while True:
        with units.unit() as history:
            orders, last = history.pending_orders(source, batch_id, after, page)
            if last is None:
                return total
            items = [
                Incoming(source, o.source_ref, "purchase", o.ordered_at, o.customer_id,
                         value_cents=o.value_cents)
                for o in orders
            ]  # fmt: skip
            total += credit_responses(history, rules, codes, items, now)
            after = last
