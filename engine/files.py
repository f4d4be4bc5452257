"""CSV files in and out: streaming reads, rejects files, safe cells.

Files are read row by row (never whole) as UTF-8 with or without a BOM.
A record holding bytes that are not UTF-8 is a bad row, rejected with its
line and the byte, like any other: the rest of the file still imports.
Every CSV the engine writes neutralises cells that a spreadsheet would run
as a formula (``= + - @``), because rejects and exports get opened in Excel.
A plain number (an E.164 phone such as ``+4915112345678``, an amount such
as ``-12.50``) carries no formula and is written as it is: a dialer reading
a call list must get the phone number, not ``'+49...``.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from engine.errors import InputFileError

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
RawRow = tuple[int, list[str], str | None]  # line, cells in header order, problem


@dataclass(frozen=True, slots=True)
class CsvFile:
    """A CSV file about to be imported."""

    path: Path
    header: tuple[str, ...]
    sha256: str
    lines: int  # physical lines after the header: the row count, near enough for progress
    utf8: bool = True  # all of it is UTF-8 (else each record is checked as it is read)

    def rows(self) -> Iterator[RawRow]:
        """Each record as (line, cells in header order, problem); line 1 is the header.

        Short records are padded with empty cells. `problem` is set for a
        record with more cells than the header has columns (its data cannot
        be placed, so it must be rejected, not cut) and for one with bytes
        that are not UTF-8.
        """
        with self._open() as handle:
            reader = csv.reader(handle)
            try:
                next(reader)
            except (UnicodeDecodeError, csv.Error) as exc:
                raise InputFileError(f"{self.path}:1: cannot read CSV: {exc}") from exc
            yield from _records(reader, self.header, 0, str(self.path), not self.utf8)

    def chunks(self, size: int) -> Iterator[TextChunk]:
        """The records after the header, `size` at a time, as text.

        Only record boundaries are found here (a line without a quote ends
        its record; a line with one is read by the csv module until its
        record ends), so splitting the cells is left to whoever iterates a
        chunk: a worker process.
        """
        with self._open() as handle:
            lines = iter(handle)
            line = 1
            try:
                header = next(lines, "")
                line += len(_record_lines(header, lines))
                while True:
                    first, taken = line, []
                    for records, physical in enumerate(lines, 1):
                        record = _record_lines(physical, lines)
                        taken += record
                        line += len(record)
                        if records >= size:
                            break
                    if not taken:
                        return
                    text = "".join(taken)
                    yield TextChunk(str(self.path), first, text, self.header, not self.utf8)
            except (UnicodeDecodeError, csv.Error) as exc:
                raise InputFileError(f"{self.path}:{line}: cannot read CSV: {exc}") from exc

    def _open(self) -> IO[str]:
        # Bytes that are not UTF-8 are read as lone surrogates (U+DC80..U+DCFF),
        # which `_records` finds in the record that holds them.
        errors = "strict" if self.utf8 else "surrogateescape"
        return self.path.open(encoding="utf-8-sig", errors=errors, newline="")


@dataclass(frozen=True, slots=True)
class TextChunk:
    """Whole records of a CSV file as text; iterating reads them into rows."""

    where: str  # the file, for errors
    first_line: int
    text: str
    header: tuple[str, ...]
    check: bool = False  # the file is not all UTF-8: look for bytes that are not

    def __iter__(self) -> Iterator[RawRow]:
        reader = csv.reader(io.StringIO(self.text, newline=""))
        check = self.check and not _is_text(self.text)
        return _records(reader, self.header, self.first_line - 1, self.where, check)


def _records(
    reader: Any, header: tuple[str, ...], offset: int, where: str, check: bool = False
) -> Iterator[RawRow]:
    """(line, cells padded to the header's width, problem) of each non-empty record of
    `reader`, whose first line is line `offset` + 1 of the file; with
    `check`, a record holding bytes that are not UTF-8 is a problem too."""
    line, width = offset + reader.line_num + 1, len(header)
    try:
        for values in reader:
            if any(values):
                problem = None
                if len(values) > width:
                    problem = f"{len(values)} cells but the header has {width}"
                elif len(values) < width:
                    values += [""] * (width - len(values))
                if check and problem is None:
                    problem = _undecodable(values, header)
                yield line, values, problem
            line = offset + reader.line_num + 1
    except (UnicodeDecodeError, csv.Error) as exc:  # decoding: the file changed since it was opened
        raise InputFileError(f"{where}:{line}: cannot read CSV: {exc}") from exc


def _is_text(text: str) -> bool:
    """No lone surrogates: every byte it was read from was UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _undecodable(values: list[str], header: Sequence[str]) -> str | None:
    """Why a record read with ``surrogateescape`` is bad, or None if it is text."""
    for column, cell in enumerate(values):
        try:
            cell.encode("utf-8")
        except UnicodeEncodeError as exc:
            byte = ord(cell[exc.start]) - 0xDC00
            name = repr(header[column]) if column < len(header) else f"cell {column + 1}"
            return (
                f"not UTF-8: byte 0x{byte:02X} in {name}"
                " (save the file as UTF-8, or correct that cell)"
            )
    return None


def printable(cell: str) -> str:
    """A cell with the bytes that were not UTF-8 as U+FFFD, so it can be written out."""
    if _is_text(cell):
        return cell
    return cell.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _record_lines(first: str, lines: Iterator[str]) -> list[str]:
    """The physical lines of the record that starts with line `first`, as
    the csv module reads them (it takes a next line only while a quoted
    field is open, and never reads ahead)."""
    if '"' not in first:
        return [first]
    taken = [first]

    def feed() -> Iterator[str]:
        yield first
        for more in lines:
            taken.append(more)
            yield more

    next(csv.reader(feed()), None)
    return taken


def open_csv(path: str | Path) -> CsvFile:
    """Check that `path` is a readable CSV with a header; hash it for the import log."""
    file = Path(path)
    if not file.is_file():
        raise InputFileError(f"{file}: no such file")
    digest, newlines, utf8 = hashlib.sha256(), 0, True
    decoder = codecs.getincrementaldecoder("utf-8")()
    with file.open("rb") as raw:
        for block in iter(lambda: raw.read(1 << 20), b""):
            digest.update(block)
            newlines += block.count(b"\n")
            utf8 = utf8 and _decodes(decoder, block)
    utf8 = utf8 and _decodes(decoder, b"", final=True)
    with file.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        header = next(csv.reader(handle), None)
    if header and (problem := _undecodable(header, ())):
        raise InputFileError(f"{file}:1: header row {problem}")
    if not header or not any(header):
        raise InputFileError(f"{file}: empty file or missing header row")
    names = tuple(name.strip() for name in header)
    doubled = sorted({n for n in names if names.count(n) > 1 and n})
    if doubled:
        raise InputFileError(f"{file}:1: duplicate column(s) {', '.join(doubled)}")
    return CsvFile(file, names, digest.hexdigest(), max(newlines - 1, 0), utf8)


def _decodes(decoder: codecs.IncrementalDecoder, block: bytes, final: bool = False) -> bool:
    try:
        decoder.decode(block, final)
    except UnicodeDecodeError:
        return False
    return True


def safe_cell(value: str) -> str:
    """A cell that spreadsheets never evaluate as a formula (plain numbers stay as they are)."""
    if value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


class RejectsFile:
    """Bad rows with their line number and reason; created on the first reject."""

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        self.path = path
        self.header = tuple(header)
        self.count = 0
        self._handle: IO[str] | None = None
        self._writer: Any = None

    def reject(self, line: int, cells: Sequence[str], reason: str) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("w", encoding="utf-8", newline="")
            self._writer = csv.writer(self._handle)
            self._writer.writerow(["line", "reason", *self.header])
        cells = [safe_cell(printable(cell)) for cell in cells]
        self._writer.writerow([line, safe_cell(reason), *cells])
        self.count += 1

    @property
    def written(self) -> str | None:
        return str(self.path) if self.count else None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
