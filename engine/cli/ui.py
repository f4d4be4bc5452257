"""Rich output helpers: progress bars and tables for the CLI."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from engine.core.counts import ImportSummary


class RowProgress:
    """A progress bar over rows that services can `advance`."""

    def __init__(self, progress: Progress, task: int) -> None:
        self._progress, self._task = progress, task

    def advance(self, rows: int) -> None:
        self._progress.advance(self._task, rows)  # type: ignore[arg-type]


@contextmanager
def row_progress(console: Console, label: str, total: int | None) -> Iterator[RowProgress]:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield RowProgress(progress, task)  # type: ignore[arg-type]


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    out = Table(title=title, title_justify="left", header_style="bold")
    for index, header in enumerate(headers):
        out.add_column(header, justify="left" if index == 0 else "right")
    for row in rows:
        out.add_row(*(f"{cell:,}" if isinstance(cell, int) else str(cell) for cell in row))
    return out


def import_report(console: Console, title: str, summary: ImportSummary, seconds: float) -> None:
    c = summary.counts
    rate = f"{c.read / seconds:,.0f} rows/s" if seconds > 0 else ""
    console.print(
        table(
            f"{title} (import batch {summary.batch_id}, {seconds:.1f} s, {rate})",
            ["rows", "count"],
            [
                ("read", c.read),
                ("new", c.inserted),
                ("merged into existing", c.merged),
                ("unchanged (already known)", c.unchanged),
                ("rejected", c.rejected),
            ],
        )
    )
    if summary.reasons:
        console.print(
            table("rejected rows by reason", ["reason", "rows"], summary.reasons.most_common(10))
        )
        console.print(f"rejected rows with line numbers and reasons: {summary.rejects_path}")
