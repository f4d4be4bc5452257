"""Record layouts and read-back tallies of the part files of a drop."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.channels.drops import part_rows
from engine.files import FORMULA_START


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # string, integer, boolean, datetime
    max_length: int | None  # a limit the engine enforces; None: free text
    description: str


def record_layout(columns: Sequence[Column], longest: Mapping[str, int]) -> dict[str, Any]:
    """The record layout of a drop's CSV files, with the longest value of each column in it."""
    return {
        "format": "csv",
        "encoding": "utf-8",
        "delimiter": ",",
        "quote": '"',
        "line_terminator": "\r\n",
        "header_row": True,
        "neutralised": (
            "a cell starting with one of "
            + " ".join(repr(start) for start in FORMULA_START)
            + " has an apostrophe put before it, so spreadsheets show it as text;"
            " plain numbers (an E.164 phone, a signed amount) are left as they are"
        ),
        "fields": [
            {
                "name": column.name,
                "position": position,
                "type": column.type,
                "max_length": column.max_length,
                "longest_in_drop": longest.get(column.name, 0),
                "description": column.description,
            }
            for position, column in enumerate(columns, start=1)
        ],
    }


@dataclass(slots=True)
class Scan:
    """What the part files of a drop hold: value counts, longest values, kept rows."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)
    longest: dict[str, int] = field(default_factory=dict)
    kept: list[dict[str, str]] = field(default_factory=list)
    rows: int = 0


def scan_parts(
    paths: Iterable[Path],
    count_by: Sequence[str],
    keep: Callable[[Mapping[str, str]], bool] = lambda row: False,
) -> Scan:
    """Read every row of `paths`: count the values of `count_by`, keep the rows `keep` wants."""
    scan = Scan(counts={name: Counter() for name in count_by})
    longest = scan.longest
    for path in paths:
        for row in part_rows(path):
            scan.rows += 1
            for name in count_by:
                scan.counts[name][row[name]] += 1
            for name, value in row.items():
                if len(value) > longest.get(name, 0):
                    longest[name] = len(value)
            if keep(row):
                scan.kept.append(row)
    return scan
