"""The small interfaces that services need; adapters satisfy them structurally."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Protocol

from engine.core.counts import ImportCounts
from engine.core.customers import Source
from engine.core.dedup import BatchPlan, Known
from engine.core.orders import OrderRecord
from engine.core.scoring import MetricRules
from engine.core.sending.message import Message, Outcome

RawRow = tuple[int, list[str], str | None]  # line, cells in header order, problem


class Table(Protocol):
    """A readable CSV: its header and its rows, streamed."""

    @property
    def header(self) -> tuple[str, ...]: ...
    def rows(self) -> Iterator[RawRow]: ...
    def chunks(self, size: int) -> Iterator[Iterable[RawRow]]:
        """Batches of about `size` rows that read into rows where they are
        iterated (picklable: a worker process reads its own)."""
        ...


class Rejects(Protocol):
    """Where bad rows go, with their line number and reason."""

    def reject(self, line: int, cells: Sequence[str], reason: str) -> None: ...
    @property
    def written(self) -> str | None: ...


class Progress(Protocol):
    def advance(self, rows: int) -> None: ...


class ImportLog(Protocol):
    def begin(self, **fields: object) -> int: ...
    def finish(
        self, batch_id: int, counts: ImportCounts, rejects_path: str | None, now: datetime
    ) -> None: ...


class CustomerStore(Protocol):
    def lookup(
        self, source: str, refs: Collection[str], emails: Collection[str], phones: Collection[str]
    ) -> Known: ...
    def apply(self, plan: BatchPlan, source: Source, batch_id: int, now: datetime) -> None: ...
    def settle(self) -> None: ...


class OrderStore(Protocol):
    writers: int  # batches that may load at once (connections writing side by side)

    def load(
        self, records: list[OrderRecord], customer_source: str, batch_id: int
    ) -> tuple[int, list[tuple[int, str]]]:
        """Insert new orders; returns (inserted, [(line, unknown customer ref)])."""
        ...


class MetricsStore(Protocol):
    def refresh(self, rules: MetricRules, as_of: datetime) -> int: ...


class Channel(Protocol):
    """A way out: SendGrid, Twilio, a print file, a call list, the outbox.

    `send` returns one `Outcome` per message, in order, and never raises for
    a provider's answer (that is what the outcome says); it may block (a
    provider round trip). `flush` finishes what a file channel has open (a
    drop's manifest and proofs) and returns the paths it wrote; `close`
    releases connections. One instance per dispatcher process.
    """

    name: str

    def send(self, messages: Sequence[Message]) -> list[Outcome]: ...
    def flush(self) -> list[str]: ...
    def close(self) -> None: ...
