"""Import customers and orders from CSV files: every good row written, every
bad row rejected with its line and reason, in batches of constant memory.

Each batch commits on its own, so a crash keeps the batches before it; since
re-importing is a no-op for rows already applied, running the same import
again completes the job.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any, NamedTuple

from engine.core.counts import ImportCounts, ImportSummary
from engine.core.customers import CustomerParser, ParseOptions, Source
from engine.core.dedup import plan_batch
from engine.core.normalize import Invalid
from engine.core.orders import REQUIRED, OrderOptions, OrderParser
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
    reasons: Counter[str] = field(default_factory=Counter)  # reason kind -> rows

    def reject_all(
        self, rejects: Rejects, chunk: Iterable[RawRow], bad: list[tuple[int, str]]
    ) -> None:
        """Write the `bad` (line, reason) rows, found among `chunk`, to the rejects file."""
        if not bad:
            return
        cells = {line: row for line, row, _ in chunk}
        for line, reason in bad:
            rejects.reject(line, cells[line], reason)
            self.reasons[reason.split(" '")[0].split(":")[0]] += 1
        self.rejected += len(bad)

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
    executor: Executor | None = None,
    in_flight: int = 2,
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
    parse = CustomerParser(mapping, table.header, options)
    for batch, _ in _parsed(table, parse, batch_size, executor, in_flight):
        records = batch.records
        tally.reject_all(rejects, batch.bad_rows, batch.bad)
        known = store.lookup(
            source.name,
            {r.source_ref for r in records if r.source_ref},
            {str(r.profile["email"]) for r in records if "email" in r.profile},
            {str(r.profile["phone"]) for r in records if "phone" in r.profile},
        )
        plan = plan_batch(records, known, source, now)
        store.apply(plan, source, batch_id, now)
        tally.read += batch.read
        tally.inserted += len(plan.created)
        tally.merged += plan.merged_lines
        tally.unchanged += plan.unchanged_lines
        if progress:
            progress.advance(batch.read)
    store.settle()
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
    writer: Executor | None = None,
    executor: Executor | None = None,
    in_flight: int = 2,
) -> ImportSummary:
    """Add an order file's new orders; orders of unknown customers are rejected.

    With an `executor` (worker processes), batches are parsed there as for
    customers, and this thread only hands them to the writers.

    With a `writer` (`store.writers` threads), each batch is written there
    while this thread parses the next one: the database (the server, or
    SQLite's C code, which releases the GIL) and the parsing overlap. At most
    `store.writers` batches are written at once; with one (SQLite), batches
    commit in file order. With two (PostgreSQL: two server processes work
    side by side), a batch may commit just before the one ahead of it. Either
    way results are taken in file order, and a failure stops the import:
    no batch is submitted once it is seen (one already loading beside the
    failed one may still commit). Re-running the import adds what is
    missing, since known orders are skipped.
    """
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
    parse = OrderParser(mapping, table.header, options)

    def load(records: list[Any]) -> tuple[int, list[tuple[int, str]]]:
        return store.load(records, customer_source, batch_id) if records else (0, [])

    def settle(batch: Parsed, whole: Iterable[RawRow], done: Any) -> None:
        inserted, unknown = done()
        bad, rows = batch.bad, batch.bad_rows
        if unknown:  # their cells are read again from the batch (text, if parsed elsewhere)
            bad = bad + [
                (line, f"unknown customer {ref!r} in source {customer_source!r}")
                for line, ref in unknown
            ]
            lines = {line for line, _ in unknown}
            rows = rows + [row for row in whole if row[0] in lines]
        tally.reject_all(rejects, rows, sorted(bad))
        tally.read += batch.read
        tally.inserted += inserted
        tally.unchanged += len(batch.records) - inserted - len(unknown)
        if progress:
            progress.advance(batch.read)

    writing: deque[tuple[Parsed, Iterable[RawRow], Any]] = deque()
    for batch, whole in _parsed(table, parse, batch_size, executor, in_flight):
        while len(writing) >= (store.writers if writer else 1):
            settle(*writing.popleft())  # parsing this batch overlapped with writing that one
        writing.append((batch, whole, _started(writer, load, batch.records)))
    while writing:
        settle(*writing.popleft())
    return _finish(log, batch_id, tally, rejects, now)


def _started(executor: Executor | None, call: Callable[[Any], Any], arg: Any) -> Callable[[], Any]:
    """Run `call(arg)` on `executor` (or here and now); returns how to get its result."""
    if executor is None:
        result = call(arg)
        return lambda: result
    return executor.submit(call, arg).result


def _finish(
    log: ImportLog, batch_id: int, tally: _Tally, rejects: Rejects, now: datetime
) -> ImportSummary:
    counts = tally.counts()
    log.finish(batch_id, counts, rejects.written, now)
    return ImportSummary(batch_id, counts, rejects.written, tally.reasons)


class Parsed(NamedTuple):
    """One batch, parsed."""

    read: int  # rows read
    records: list[Any]
    bad: list[tuple[int, str]]  # (line, reason) of the rows refused
    bad_rows: list[RawRow]  # those rows, with their cells, for the rejects file


def parse_chunk(parse: Callable[[int, list[str]], Any], chunk: Iterable[RawRow]) -> Parsed:
    """Parse one batch (raw rows, or a table's chunk that reads into them);
    module-level so that worker processes can run it."""
    read, records, bad, bad_rows = 0, [], [], []
    for row in chunk:
        read += 1
        line, cells, problem = row
        try:
            if problem:
                raise Invalid(problem)
            records.append(parse(line, cells))
        except Invalid as exc:
            bad.append((line, str(exc)))
            bad_rows.append(row)
    return Parsed(read, records, bad, bad_rows)


def _parsed(
    table: Table,
    parse: Callable[[int, list[str]], Any],
    size: int,
    executor: Executor | None,
    in_flight: int,
) -> Iterator[tuple[Parsed, Iterable[RawRow]]]:
    """Each batch parsed, with the batch itself (which reads into its rows
    again), in file order.

    With an executor, batches are parsed in worker processes while this
    process writes the previous ones; at most `in_flight` batches are parsed
    ahead, so memory stays bounded however large the file. A worker gets
    the batch as text (`table.chunks`: whole records, not yet split into
    cells) and reads it itself, which is cheaper here than reading it and
    shipping the cells; only the bad rows come back as cells.
    """
    if executor is None:
        for chunk in _chunks(table.rows(), size):
            yield parse_chunk(parse, chunk), chunk
        return
    window = max(in_flight, 1)
    pending: deque[tuple[Iterable[RawRow], Future[Parsed]]] = deque()
    chunks, unreadable = iter(table.chunks(size)), None
    while True:
        try:
            text = next(chunks)
        except StopIteration:
            break
        except InputFileError as error:  # further on: the batches read before it still count
            unreadable = error
            break
        pending.append((text, executor.submit(parse_chunk, parse, text)))
        if len(pending) >= window:
            text, future = pending.popleft()
            yield future.result(), text
    while pending:
        text, future = pending.popleft()
        yield future.result(), text
    if unreadable:
        raise unreadable


def _chunks(rows: Iterable[RawRow], size: int) -> Iterator[list[RawRow]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk
