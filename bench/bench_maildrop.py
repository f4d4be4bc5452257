"""Benchmark: a 100,000-piece mail drop through PrintFileChannel, proofs and manifest included.

Builds synthetic mail messages over three cells, in batches of 500 as the
dispatcher hands them (each with its own letter HTML: the real winter
catalogue template rendered once per cell, personalised by substitution so
the benchmark measures the channel, not Jinja), sends them through
`PrintFileChannel` into a temporary folder with two seed addresses, then
flushes: record layout, a PDF proof per cell and for the seeds, SHA-256 of
every file, manifest. Prints pieces per second for the sends, the flush
time, the total and the peak memory of the process.

    .venv/bin/python bench/bench_maildrop.py [--pieces N] [--batch N] [--keep DIR]

Target on a 2-core machine: <= 60 s for 100,000 pieces, all files included.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from engine.channels.print_file import PrintFileChannel
from engine.core.codes import CodeBook
from engine.core.messages import Rendered
from engine.core.sending.message import Message
from engine.render import TemplateRenderer
from engine.settings import PrintSettings, SeedAddress, SenderSettings

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
CELLS = {"offer10": "10% off", "offer20": "20% off", "gift": "A free candle holder"}
SEEDS = (
    SeedAddress(name="Quality Desk", address_line1="1 Example Road", city="Shanghai", country="CN"),
    SeedAddress(name="Marketing Office", address_line1="5 Rue Neuve", city="Paris", country="FR"),
)


def letters() -> dict[str, str]:
    """The winter letter of each cell, with placeholders for the personal parts."""
    renderer = TemplateRenderer(ROOT / "templates", SenderSettings())
    customer = {"first_name": "@FIRST@", "last_name": "@LAST@", "address_line1": "@STREET@"}
    customer |= {"postal_code": "@ZIP@", "city": "@CITY@"}
    return {
        cell: renderer.render(
            "mail",
            "catalog/winter",
            {"customer": customer, "vars": {"offer": offer}, "response_code": "@CODE@"},
        ).html
        or ""
        for cell, offer in CELLS.items()
    }


def batches(pieces: int, size: int) -> Iterator[list[Message]]:
    """`pieces` mail messages in batches of `size`, cells in turn, as the dispatcher makes them."""
    templates, codes, cells = letters(), CodeBook.from_secret("bench"), list(CELLS)
    for start in range(1, pieces + 1, size):
        batch = []
        for send_id in range(start, min(start + size, pieces + 1)):
            cell, code = cells[send_id % len(cells)], codes.code(send_id)
            last, street, zip_code = (
                f"Berg{send_id}",
                f"{send_id % 997} Birch Lane",
                f"{10000 + send_id % 89999}",
            )
            html = (
                templates[cell]
                .replace("@FIRST@", "Anna")
                .replace("@LAST@", last)
                .replace("@STREET@", street)
                .replace("@ZIP@", zip_code)
                .replace("@CITY@", "Berlin")
                .replace("@CODE@", code)
            )
            fields = {
                "name": f"Anna {last}",
                "address_line1": street,
                "postal_code": zip_code,
                "city": "Berlin",
                "country": "DE",
                "keycode": f"W26-CATALOG-{cell.upper()}",
                "purl": f"https://shop.example/r/{code}",
            }
            rendered = Rendered("mail", f"Dear Anna {last}, ...", html=html)
            batch.append(
                Message(
                    send_id,
                    "bench-winter",
                    "catalog",
                    cell,
                    "mail",
                    f"Anna {last}",
                    rendered,
                    code,
                    fields=fields,
                )
            )
        yield batch


def run(out_dir: Path, pieces: int, size: int) -> None:
    channel = PrintFileChannel(PrintSettings(out_dir=out_dir, seeds=SEEDS), clock=lambda: NOW)
    started = time.perf_counter()
    sent, sending = 0, 0.0
    for batch in batches(pieces, size):
        before = time.perf_counter()  # the channel's time only, not building the messages
        sent += sum(outcome.kind == "sent" for outcome in channel.send(batch))
        sending += time.perf_counter() - before
    flushed = time.perf_counter()
    written = channel.flush()
    flushing = time.perf_counter() - flushed
    total = time.perf_counter() - started
    manifest = json.loads(Path(next(p for p in written if p.endswith("manifest.json"))).read_text())
    data = sum(f["bytes"] for f in manifest["files"] if f["role"] == "data")
    parts = sum(f["role"] == "data" for f in manifest["files"])
    proofs = sum(f["name"].endswith(".pdf") for f in manifest["files"])
    print(
        f"pieces    {sent:,} sent of {pieces:,} in {parts} parts of {size} ({data / 1e6:.1f} MB CSV)"
    )
    print(
        f"manifest  {manifest['pieces']} + {manifest['seeds']} seeds = {manifest['total']:,}; {proofs} PDF proofs"
    )
    print(f"send      {sending:6.2f} s  {sent / sending:,.0f} pieces/s in PrintFileChannel.send")
    print(f"flush     {flushing:6.2f} s  (read-back, layout, proofs, SHA-256, manifest)")
    print(
        f"total     {total:6.2f} s  {sent / total:,.0f} pieces/s (building the messages included)"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak:,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pieces", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument(
        "--keep", type=Path, help="write the drop here instead of a temporary folder"
    )
    args = parser.parse_args()
    if args.keep:
        run(args.keep, args.pieces, args.batch)
        return
    with tempfile.TemporaryDirectory(prefix="engine-bench-maildrop-") as tmp:
        run(Path(tmp), args.pieces, args.batch)


if __name__ == "__main__":
    main()
