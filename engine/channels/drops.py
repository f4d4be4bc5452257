"""Folders of durable part files: what the file channels write.

A drop is one folder per (campaign, step) per dispatch pass,
``<out_dir>/<campaign>/<step>/<drop id>/``. Every `send()` batch becomes one
complete part file (written under a temporary name, fsynced, renamed, the
folder fsynced) before the channel answers ``sent``; so a piece reported sent
is on disk, and a piece that is on no part was never reported sent. `flush()`
finishes the drop by writing ``manifest.json`` last: a drop without its
manifest is unfinished and nobody outside the engine takes it.

After a crash, `pieces_in` tells which sends already sit in some part (they
are sent: record them so); the others were never written and can be retried.
`unfinished_drops` lists folders left without a manifest, to be finished.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from engine.files import safe_cell

Clock = Callable[[], datetime]
MANIFEST: Final = "manifest.json"
SEND_ID: Final = "send_id"  # the column every part file has
_SAFE_SEGMENT: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TMP: Final = ".tmp"


def utc_now() -> datetime:
    return datetime.now(UTC)


def safe_segment(value: str) -> bool:
    """True if `value` can be one folder or file name part (no ``/``, no ``..``)."""
    return bool(_SAFE_SEGMENT.match(value)) and ".." not in value


def write_durably(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that it is there, whole, after a crash, or not at all."""
    tmp = path.with_name(f".{path.name}{_TMP}")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Make the renames and creations inside `folder` durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    """UTF-8 CSV with `header` and `rows`, every cell neutralised for spreadsheets."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return buffer.getvalue().encode("utf-8")


def json_bytes(document: Any) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def open_drop(parent: Path, now: datetime) -> tuple[str, Path]:
    """Create a new drop folder under `parent`; return its id and path.

    The id is the UTC time to the second (``20261201T073116Z``), sortable;
    a folder already taken by this second (another pass, another worker on
    the same share) gets ``-001``, ``-002``...: `mkdir` is the atomic claim.
    """
    parent.mkdir(parents=True, exist_ok=True)
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    for attempt in range(1000):
        drop_id = stamp if attempt == 0 else f"{stamp}-{attempt:03d}"
        try:
            (parent / drop_id).mkdir()
        except FileExistsError:
            continue
        sync_folder(parent)
        return drop_id, parent / drop_id
    raise FileExistsError(f"{parent}: 1000 drops in the second {stamp}")


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a finished drop, as the manifest lists it."""

    name: str
    role: str  # data, layout, proof
    bytes: int
    sha256: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "bytes": self.bytes, "sha256": self.sha256}


def file_entry(path: Path, role: str) -> FileEntry:
    """Size and SHA-256 of `path`."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return FileEntry(path.name, role, size, digest.hexdigest())


def write_manifest(
    folder: Path, channel: str, now: datetime, body: dict[str, Any], files: Sequence[FileEntry]
) -> Path:
    """Write the manifest of the drop in `folder`, the last file of a finished drop."""
    head = {
        "channel": channel,
        "campaign": folder.parent.parent.name,
        "step": folder.parent.name,
        "drop_id": folder.name,
        "created_at": now.astimezone(UTC).isoformat(),
    }
    path = folder / MANIFEST
    write_durably(path, json_bytes({**head, **body, "files": [f.as_json() for f in files]}))
    return path


def verify_drop(folder: Path) -> list[str]:
    """What is wrong with the drop in `folder` against its manifest: [] when every file is whole.

    What a receiving mail house or call centre (or an operator before the
    upload) checks: the manifest is there, every file it lists is there with
    the listed size and SHA-256.
    """
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return [f"{folder}: no {MANIFEST}, the drop is unfinished"]
    problems = []
    for listed in json.loads(manifest.read_text(encoding="utf-8"))["files"]:
        path = folder / listed["name"]
        if not path.is_file():
            problems.append(f"{listed['name']}: missing")
            continue
        found = file_entry(path, listed["role"])
        if (found.bytes, found.sha256) != (listed["bytes"], listed["sha256"]):
            problems.append(
                f"{listed['name']}: {found.bytes} bytes, SHA-256 {found.sha256}; "
                f"the manifest says {listed['bytes']} bytes, {listed['sha256']}"
            )
    return problems


def parts(folder: Path, prefix: str) -> list[Path]:
    """The complete part files of a drop, in order (temporary files left by a crash excluded)."""
    return sorted(p for p in folder.glob(f"{prefix}-[0-9][0-9][0-9][0-9][0-9].csv") if p.is_file())


def part_rows(path: Path) -> Iterator[dict[str, str]]:
    """The rows of a part file as dicts by column name."""
    with path.open(encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle)


def remove_leftovers(folder: Path) -> None:
    """Delete temporary files a crash left half-written: they were never reported sent."""
    for tmp in folder.glob(f".*{_TMP}"):
        if tmp.is_file():
            tmp.unlink()


def unfinished_drops(out_dir: Path) -> list[Path]:
    """Drop folders (``<campaign>/<step>/<drop id>``) that have no manifest, oldest first.

    Only finish one whose writer is gone (its process ended or crashed): a
    live channel is still adding parts to its own open drops.
    """
    found = [folder for folder in out_dir.glob("*/*/*") if folder.is_dir()]
    return sorted(
        (folder for folder in found if not (folder / MANIFEST).exists()), key=lambda f: f.name
    )


def pieces_in(out_dir: Path, send_ids: Iterable[int]) -> dict[int, str]:
    """The given sends that some part file under `out_dir` holds: send id -> provider message id.

    The id is ``"<drop id>:<part>:<row>"``, exactly what `send()` returned
    for it (row 1 is the first record after the header). Sends not in the
    result were never written: they were not reported sent and may be retried.
    """
    wanted = {str(send_id) for send_id in send_ids}
    found: dict[int, str] = {}
    for part in sorted(out_dir.glob("*/*/*/*-[0-9][0-9][0-9][0-9][0-9].csv")):
        if not wanted:
            break
        if not part.is_file():
            continue
        number = int(part.stem.rsplit("-", 1)[1])
        for row, record in enumerate(part_rows(part), start=1):
            if record.get(SEND_ID) in wanted:
                wanted.discard(record[SEND_ID])
                found[int(record[SEND_ID])] = piece_id(part.parent.name, number, row)
    return found


def piece_id(drop_id: str, part: int, row: int) -> str:
    return f"{drop_id}:{part}:{row}"


class OpenDrop:
    """A drop this process is writing: numbered part files, one per batch."""

    def __init__(self, drop_id: str, folder: Path, prefix: str) -> None:
        self.drop_id = drop_id
        self.folder = folder
        self.prefix = prefix
        self.parts = 0
        self.seen: set[str] = set()  # what the channel already wrote once for this drop

    def write_part(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
        """Write the next part file durably; return its number (1, 2, ...)."""
        self.parts += 1
        name = f"{self.prefix}-{self.parts:05d}.csv"
        write_durably(self.folder / name, csv_bytes(header, rows))
        return self.parts
