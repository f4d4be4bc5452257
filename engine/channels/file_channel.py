"""What the print-file and call-list channels share: batches into durable parts.

`send` groups a batch by (campaign, step), writes one part file per group
into that group's open drop (see `drops`) and only then answers ``sent``,
with ``"<drop id>:<part>:<row>"`` as provider message id. `flush` finishes
every open drop (the subclass writes its manifest) and forgets them, so the
next pass opens new ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from engine.channels.drops import (
    MANIFEST,
    Clock,
    OpenDrop,
    open_drop,
    piece_id,
    remove_leftovers,
    safe_segment,
    utc_now,
)
from engine.core.sending.message import Message, Outcome, OutcomeKind

Row = list[str]


class FileChannel:
    """Base of the file channels; subclasses give the columns, rows and finishing."""

    name = "file"
    prefix = "part"  # part files are <prefix>-00001.csv, ...
    header: tuple[str, ...] = ()

    def __init__(self, out_dir: Path, clock: Clock = utc_now) -> None:
        self._out_dir = out_dir
        self._clock = clock
        self._open: dict[tuple[str, str], OpenDrop] = {}

    def send(self, messages: Sequence[Message]) -> list[Outcome]:
        """One outcome per message, in order: ``sent`` once its part file is durable.

        A message that can never be written (no address, a bad phone, a keycode
        too long) is ``failed``; a disk error before the part was in place is
        ``retry``, after it (the rename happened, the folder sync failed)
        ``unknown``: `drops.pieces_in` tells later.
        """
        outcomes: dict[int, Outcome] = {}
        groups: dict[tuple[str, str], list[tuple[int, Message, Row]]] = {}
        for index, message in enumerate(messages):
            row_or_problem = self._checked_row(message)
            if isinstance(row_or_problem, str):
                outcomes[index] = Outcome(message.send_id, "failed", error=row_or_problem)
            else:
                key = (message.campaign_key, message.step)
                groups.setdefault(key, []).append((index, message, row_or_problem))
        for key, members in groups.items():
            outcomes.update(self._write_group(key, members))
        return [outcomes[index] for index in range(len(messages))]

    def flush(self) -> list[str]:
        """Finish every drop this pass opened; return the paths written."""
        written: list[str] = []
        for drop in self._open.values():
            written += self.finish(drop.folder)
        self._open.clear()
        return written

    def close(self) -> None:
        """Finish what is still open, so no drop of a live process is left unfinished."""
        self.flush()

    def finish(self, folder: Path) -> list[str]:
        """Finish the drop in `folder` (also one a crashed process left); return the paths written.

        A finished drop (it has its manifest) is left as it is.
        """
        if (folder / MANIFEST).exists():
            return []
        remove_leftovers(folder)
        return [str(path) for path in self._finish(folder, self._clock())]

    def _checked_row(self, message: Message) -> Row | str:
        if not (safe_segment(message.campaign_key) and safe_segment(message.step)):
            return f"campaign {message.campaign_key!r} / step {message.step!r} cannot name a folder"
        if not safe_segment(message.cell):
            return f"cell {message.cell!r} cannot name a file"
        return self._row(message)

    def _write_group(
        self, key: tuple[str, str], members: list[tuple[int, Message, Row]]
    ) -> dict[int, Outcome]:
        try:
            drop = self._drop(key)
        except OSError as exc:
            return {
                i: Outcome(m.send_id, "retry", error=f"drop folder: {exc}") for i, m, _ in members
            }
        number = drop.parts + 1
        try:
            extra = self._before_part(drop, [message for _, message, _ in members])
            drop.write_part(self.header, [row for _, _, row in members] + extra)
        except OSError as exc:
            landed = (drop.folder / f"{self.prefix}-{number:05d}.csv").exists()
            kind: OutcomeKind = "unknown" if landed else "retry"
            return {i: Outcome(m.send_id, kind, error=f"part file: {exc}") for i, m, _ in members}
        return {
            index: Outcome(
                message.send_id, "sent", provider_message_id=piece_id(drop.drop_id, number, row)
            )
            for row, (index, message, _) in enumerate(members, start=1)
        }

    def _drop(self, key: tuple[str, str]) -> OpenDrop:
        if key not in self._open:
            drop_id, folder = open_drop(self._out_dir / key[0] / key[1], self._clock())
            self._open[key] = OpenDrop(drop_id, folder, self.prefix)
        return self._open[key]

    # What each channel fills in.

    def _row(self, message: Message) -> Row | str:
        """The CSV row of `message` in `header` order, or why it can never be written."""
        raise NotImplementedError

    def _before_part(self, drop: OpenDrop, messages: list[Message]) -> list[Row]:
        """Write what must be durable with this part (proof sources); return rows to append."""
        return []

    def _finish(self, folder: Path, now: datetime) -> list[Path]:
        """Write the drop's closing files, the manifest last; return them."""
        raise NotImplementedError
