"""Import customers and orders from CSV files: every good row written, every
bad row rejected with its line and reason, in batches of constant memory.

Each batch commits on its own, so a crash keeps the batches before it; since
re-importing is a no-op for rows already applied, running the same import
again completes the job.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from engine.core.counts import ImportCounts, ImportSummary
from engine.core.customers import CustomerParser, CustomerRecord, ParseOptions, Source
from engine.core.dedup import plan_batch
from engine.core.normalize import Invalid
from engine.core.orders import REQUIRED, OrderOptions, OrderRecord, parse_order
from engine.errors import InputFileError
from engine.services.ports import (
    CustomerStore,
    ImportLog,
    OrderStore,
    Progress,
    RawRow,
    Rejects,
    Table,
)


@dataclass(frozen=True, slots=True)
class FileInfo:
    name: str
    sha256: str


@dataclass
class _Tally:
    read: int = 0
    inserted: int = 0
    merged: int = 0
    unchanged: int = 0
    rejected: int = 0

    def __post_init__(self) -> None:
        self.reasons: Counter[str] = Counter()

    def reject(self, rejects: Rejects, line: int, row: dict[str, str], reason: str) -> None:
        rejects.reject(line, row, reason)
        self.rejected += 1
        self.reasons[reason.split(" '")[0].split(":")[0]] += 1

    def counts(self) -> ImportCounts:
        return ImportCounts(self.read, self.inserted, self.merged, self.unchanged, self.rejected)


def import_customers(
    table: Table,
    file: FileInfo,
    *,
    source: Source,
    mapping: Mapping[str, str],
    options: ParseOptions,
    batch_size: int,
    store: CustomerStore,
    log: ImportLog,
    rejects: Rejects,
    now: datetime,
    progress: Progress | None = None,
) -> ImportSummary:
    """Merge a customer file into the database, one person per customer."""
    identifying = {mapping[name] for name in ("external_id", "email", "phone")}
    if not identifying & set(table.header):
        raise InputFileError(
            f"{file.name}:1: no identifying column; expected one of {', '.join(sorted(identifying))}"
        )
    batch_id = log.begin(
        kind="customers",
        source_name=source.name,
        origin=source.origin.value,
        file_name=file.name,
        file_sha256=file.sha256,
        now=now,
    )
    tally = _Tally()
    parse = CustomerParser(mapping, options)
    for chunk in _chunks(table.rows(), batch_size):
        records: list[CustomerRecord] = []
        for line, row, problem in chunk:
            try:
                if problem:
                    raise Invalid(problem)
                records.append(parse(line, row))
            except Invalid as exc:
                tally.reject(rejects, line, row, str(exc))
        known = store.lookup(
            source.name,
            {r.source_ref for r in records if r.source_ref},
            {str(r.profile["email"]) for r in records if "email" in r.profile},
            {str(r.profile["phone"]) for r in records if "phone" in r.profile},
        )
        plan = plan_batch(records, known, source, now)
        store.apply(plan, source, batch_id, now)
        tally.read += len(chunk)
        tally.inserted += len(plan.created)
        tally.merged += plan.merged_lines
        tally.unchanged += plan.unchanged_lines
        if progress:
            progress.advance(len(chunk))
    return _finish(log, batch_id, tally, rejects, now)


def import_orders(
    table: Table,
    file: FileInfo,
    *,
    source: str,
    customer_source: str,
    mapping: Mapping[str, str],
    options: OrderOptions,
    batch_size: int,
    store: OrderStore,
    log: ImportLog,
    rejects: Rejects,
    now: datetime,
    progress: Progress | None = None,
) -> ImportSummary:
    """Add an order file's new orders; orders of unknown customers are rejected."""
    missing = [mapping[name] for name in REQUIRED if mapping[name] not in table.header]
    if missing:
        raise InputFileError(f"{file.name}:1: missing column(s) {', '.join(missing)}")
    batch_id = log.begin(
        kind="orders",
        source_name=source,
        origin="internal",
        file_name=file.name,
        file_sha256=file.sha256,
        now=now,
    )
    tally = _Tally()
    for chunk in _chunks(table.rows(), batch_size):
        records: list[OrderRecord] = []
        rows = {}
        for line, row, problem in chunk:
            try:
                if problem:
                    raise Invalid(problem)
                records.append(parse_order(line, row, mapping, options))
                rows[line] = row
            except Invalid as exc:
                tally.reject(rejects, line, row, str(exc))
        inserted, unknown = store.load(records, customer_source, batch_id) if records else (0, [])
        for line, ref in unknown:
            tally.reject(
                rejects, line, rows[line], f"unknown customer {ref!r} in source {customer_source!r}"
            )
        tally.read += len(chunk)
        tally.inserted += inserted
        tally.unchanged += len(records) - inserted - len(unknown)
        if progress:
            progress.advance(len(chunk))
    return _finish(log, batch_id, tally, rejects, now)


def _finish(
    log: ImportLog, batch_id: int, tally: _Tally, rejects: Rejects, now: datetime
) -> ImportSummary:
    counts = tally.counts()
    log.finish(batch_id, counts, rejects.written, now)
    return ImportSummary(batch_id, counts, rejects.written, tally.reasons)


def _chunks(rows: Iterable[RawRow], size: int) -> Iterator[list[RawRow]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk
