"""Plan one batch of a customer import: who matches whom, what changes.

Pure: the caller looks up the stored customers that share a key with the
batch (`Known`) and applies the returned `BatchPlan` in one transaction.
Records inside the batch also match each other, so a file that lists the
same person twice yields one customer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from engine.core.customers import Customer, CustomerRecord, Source, merge, new_customer


@dataclass
class Known:
    """Stored customers sharing a key with the batch, and their current state."""

    customers: dict[int, Customer] = field(default_factory=dict)
    by_ref: dict[str, int] = field(default_factory=dict)  # this source's external ids
    by_email: dict[str, int] = field(default_factory=dict)
    by_phone: dict[str, int] = field(default_factory=dict)
    links: set[tuple[int, str]] = field(default_factory=set)  # (customer id, source ref)
    consents: dict[tuple[int, str], bool] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConsentChange:
    customer: Customer
    channel: str
    granted: bool
    line: int


@dataclass
class BatchPlan:
    created: list[Customer] = field(default_factory=list)
    updated: list[Customer] = field(default_factory=list)
    links: list[tuple[Customer, str, int]] = field(default_factory=list)  # customer, ref, line
    consents: list[ConsentChange] = field(default_factory=list)
    merged_lines: int = 0
    unchanged_lines: int = 0


def plan_batch(
    records: Iterable[CustomerRecord], known: Known, source: Source, now: datetime
) -> BatchPlan:
    """Match each record, merge it, and collect the writes the batch needs.

    A stored customer is updated only if its state at the end of the batch
    differs from the stored one: rows that disagree inside a batch (last one
    wins) therefore do not rewrite a customer on every re-import.
    """
    plan = BatchPlan()
    by_ref: dict[str, Customer] = {r: known.customers[i] for r, i in known.by_ref.items()}
    by_email = {e: known.customers[i] for e, i in known.by_email.items()}
    by_phone = {p: known.customers[i] for p, i in known.by_phone.items()}
    links = {(id(known.customers[i]), ref) for i, ref in known.links}
    stored = {id(c): (_state(c), c.data_as_of) for c in known.customers.values()}
    # The last value a batch gives for a consent is its word on it; comparing
    # that (not every row) with the ledger keeps re-imports from re-appending.
    wanted: dict[tuple[int, str], tuple[Customer, bool, int]] = {}
    matched: dict[int, Customer] = {}  # line -> customer it merged into
    added: set[int] = set()  # lines that added a link or a consent
    for record in records:
        customer = (
            (by_ref.get(record.source_ref) if record.source_ref else None)
            or by_email.get(str(record.profile.get("email")))
            or by_phone.get(str(record.profile.get("phone")))
        )
        if customer is None:
            customer = new_customer(record, source, now)
            plan.created.append(customer)
        else:
            merge(customer, record, source, now)
            matched[record.line] = customer
        if (id(customer), record.source_ref) not in links:
            links.add((id(customer), record.source_ref))
            plan.links.append((customer, record.source_ref, record.line))
            added.add(record.line)
        for channel, granted in record.consents.items():
            wanted[(id(customer), channel)] = (customer, granted, record.line)
        _index(customer, record.source_ref, by_ref, by_email, by_phone)
    _consent_changes(plan, wanted, known, added)
    _settle_updates(plan, matched, stored, added)
    return plan


def _state(customer: Customer) -> tuple[object, ...]:
    """What a merge can change, but for the clock (`data_as_of`)."""
    return (
        dict(customer.profile),
        dict(customer.attributes),
        customer.origin,
        customer.trust,
        customer.external_id,
    )


def _consent_changes(
    plan: BatchPlan,
    wanted: dict[tuple[int, str], tuple[Customer, bool, int]],
    known: Known,
    added: set[int],
) -> None:
    current = {(id(known.customers[i]), ch): v for (i, ch), v in known.consents.items()}
    for key, (customer, granted, line) in wanted.items():
        if current.get(key) != granted:
            plan.consents.append(ConsentChange(customer, key[1], granted, line))
            added.add(line)


def _settle_updates(
    plan: BatchPlan,
    matched: dict[int, Customer],
    stored: dict[int, tuple[tuple[object, ...], datetime]],
    added: set[int],
) -> None:
    """Keep the stored customers whose final state differs; count the lines."""
    changed: dict[int, bool] = {}
    for customer in {id(c): c for c in matched.values()}.values():
        if customer.id is None:  # created by an earlier line of this batch
            changed[id(customer)] = True
            continue
        before, as_of = stored[id(customer)]
        if _state(customer) == before:
            customer.data_as_of = as_of  # nothing changed, so the clock does not move
            changed[id(customer)] = False
        else:
            changed[id(customer)] = True
            plan.updated.append(customer)
    for line, customer in matched.items():
        if changed[id(customer)] or line in added:
            plan.merged_lines += 1
        else:
            plan.unchanged_lines += 1


def _index(
    customer: Customer,
    ref: str,
    by_ref: dict[str, Customer],
    by_email: dict[str, Customer],
    by_phone: dict[str, Customer],
) -> None:
    if ref:
        by_ref.setdefault(ref, customer)
    if email := customer.profile.get("email"):
        by_email.setdefault(str(email), customer)
    if phone := customer.profile.get("phone"):
        by_phone.setdefault(str(phone), customer)
