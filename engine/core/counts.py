"""What an import did, row by row."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ImportCounts:
    read: int = 0
    inserted: int = 0  # new customers or orders
    merged: int = 0  # rows that changed an existing customer
    unchanged: int = 0  # rows already fully known (re-imports, duplicate orders)
    rejected: int = 0


@dataclass(frozen=True)
class ImportSummary:
    batch_id: int
    counts: ImportCounts
    rejects_path: str | None
    reasons: Counter[str] = field(default_factory=Counter)  # reject reason kind -> rows
