"""Postal mail drops: print files, record layout, PDF proofs and a manifest for the mail house.

A drop is ``<out_dir>/<campaign>/<step>/<drop id>/`` (see `drops`):

- ``print-00001.csv``, ``print-00002.csv``, ...: one per dispatched batch,
  each with the header row of `print_layout.HEADER`; the seed addresses
  of the configuration are in the first part (cell ``SEED``);
- ``layout.json``: the record layout of those files;
- ``proof-<cell>.html`` / ``.pdf``: the letter of the first piece of each
  cell with a proof strip (keyline, code, PURL, QR), and ``proof-SEED`` listing
  the seed pieces;
- ``manifest.json``, written last: pieces per cell, seeds, total, and every
  file with its size and SHA-256. Only a drop with its manifest goes out.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

from engine.channels.drops import (
    Clock,
    OpenDrop,
    file_entry,
    json_bytes,
    parts,
    pieces_in,
    unfinished_drops,
    utc_now,
    write_durably,
    write_manifest,
)
from engine.channels.file_channel import FileChannel, Row
from engine.channels.layout import record_layout, scan_parts
from engine.channels.print_layout import (
    ADDRESS,
    COLUMNS,
    HEADER,
    KEYLINE_MAX,
    SEED_CELL,
    piece_row,
    seed_row,
)
from engine.channels.proofs import html_to_pdf, letter_proof, seed_proof
from engine.core.sending.message import Message
from engine.settings import PrintSettings, SeedAddress

__all__ = ["PrintFileChannel", "pieces_in", "unfinished_drops"]

LAYOUT = "layout.json"
# What the seed proof shows: who gets a check copy, and of which letter.
SEED_SHEET = ("keyline", "name", *ADDRESS, "version")


class PrintFileChannel(FileChannel):
    """Writes mail sends into drops for a mail house; ``sent`` means durably in a print file."""

    name = "mail"
    prefix = "print"
    header = HEADER

    def __init__(self, settings: PrintSettings, clock: Clock = utc_now) -> None:
        super().__init__(settings.out_dir, clock)
        self._seeds = settings.seeds

    def _row(self, message: Message) -> Row | str:
        fields = message.fields
        if message.cell.upper() == SEED_CELL:
            return f"cell {message.cell!r}: the name is kept for seed addresses"
        if not message.to.strip():
            return "no addressee name line"
        if not fields.get("address_line1", "").strip():
            return "no postal address (address_line1 is empty)"
        if not message.rendered.html:
            return "no letter HTML to print"
        keycode = fields.get("keycode", "")
        if len(keycode) > KEYLINE_MAX:
            return f"keycode {keycode!r} is longer than {KEYLINE_MAX} characters"
        return piece_row(
            message.to, fields, message.cell, message.response_code or "", message.send_id
        )

    def _before_part(self, drop: OpenDrop, messages: list[Message]) -> list[Row]:
        # The proof source of a cell is kept with the first part that has the
        # cell: a drop finished after a crash still has every letter to proof.
        for message in messages:
            if message.cell not in drop.seen:
                labels = {
                    "campaign / step / cell": f"{message.campaign_key} / {message.step} / {message.cell}",
                    "keyline": message.fields.get("keycode", ""),
                    "response code": message.response_code or "",
                    "PURL": message.fields.get("purl", ""),
                    "send id": str(message.send_id),
                }
                html = letter_proof(
                    message.rendered.html or "", labels, message.fields.get("purl", "")
                )
                write_durably(drop.folder / f"proof-{message.cell}.html", html.encode("utf-8"))
                drop.seen.add(message.cell)
        if parts(drop.folder, self.prefix):
            return []  # the seeds went into the first part that landed
        version = messages[0].cell
        return [
            seed_row(f"SEED{number:02d}-{drop.drop_id}", seed.name, _lines(seed), version)
            for number, seed in enumerate(self._seeds, start=1)
        ]

    def _finish(self, folder: Path, now: datetime) -> list[Path]:
        data = parts(folder, self.prefix)
        scan = scan_parts(data, ("cell", "seed"), keep=lambda row: row["seed"] == "yes")
        pieces = Counter({cell: n for cell, n in scan.counts["cell"].items() if cell != SEED_CELL})
        seeds = scan.counts["seed"]["yes"]
        proofs = self._proofs(folder, sorted(pieces), scan.kept)
        layout = folder / LAYOUT
        write_durably(layout, json_bytes(record_layout(COLUMNS, scan.longest)))
        files = [file_entry(path, "data") for path in data]
        files += [file_entry(layout, "layout")] + [file_entry(path, "proof") for path in proofs]
        body = {
            "pieces": dict(sorted(pieces.items())),
            "sends": sum(pieces.values()),
            "seeds": seeds,
            "total": sum(pieces.values()) + seeds,
        }
        manifest = write_manifest(folder, self.name, now, body, files)
        return [*data, layout, *proofs, manifest]

    def _proofs(self, folder: Path, cells: list[str], seeds: list[dict[str, str]]) -> list[Path]:
        """Write the PDF of every cell's proof source, and the seed list; return proof files."""
        for stale in folder.glob("proof-*.html"):
            # A source whose part never landed (a crash in between) has no pieces.
            if stale.stem.removeprefix("proof-") not in [*cells, SEED_CELL]:
                stale.unlink()
        if seeds:
            title = f"Seed pieces of drop {folder.name} ({folder.parent.parent.name} / {folder.parent.name})"
            rows = [[row[name] for name in SEED_SHEET] for row in seeds]
            sheet = seed_proof(title, SEED_SHEET, rows)
            write_durably(folder / f"proof-{SEED_CELL}.html", sheet.encode("utf-8"))
        written: list[Path] = []
        for cell in [*cells, SEED_CELL] if seeds else cells:
            source = folder / f"proof-{cell}.html"
            if not source.exists():
                continue
            pdf = source.with_suffix(".pdf")
            write_durably(pdf, html_to_pdf(source.read_text(encoding="utf-8")))
            written += [source, pdf]
        return written


def _lines(seed: SeedAddress) -> dict[str, str]:
    return {name: value or "" for name, value in seed.model_dump().items()}
