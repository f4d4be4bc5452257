"""Telemarketing call lists: one list per (campaign, step) per dispatch pass for the call centre.

A list is ``<out_dir>/<campaign>/<step>/<list id>/`` (the same durable drop
folders as mail, see `drops`): ``calls-00001.csv``, ... one per dispatched
batch with the header `HEADER`; ``layout.json``; and ``manifest.json``,
written last, with rows per cell and per timezone and every file's size and
SHA-256. Each row carries the customer's IANA timezone and the calling
window for that row, local and UTC: the call centre dials inside it.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.channels.drops import (
    Clock,
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
from engine.channels.layout import Column, record_layout, scan_parts
from engine.core.sending.message import Message
from engine.settings import CallListSettings

__all__ = ["CallListChannel", "pieces_in", "unfinished_drops"]

E164: Final = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Calling hours the law allows nearly everywhere, customer's local time; the
# campaign's own window (and stricter state rules) are the dispatcher's.
EARLIEST: Final = time(8)
LATEST: Final = time(21)
COLUMNS: Final = (
    Column("phone", "string", 16, "E.164 number; written '+... (leading apostrophe: strip it)."),
    Column("name", "string", None, "Customer name."),
    Column("timezone", "string", 64, "The customer's IANA timezone, e.g. Europe/Berlin."),
    Column("window_start", "string", 5, "Start of the calling window, HH:MM local time."),
    Column("window_end", "string", 5, "End of the calling window, HH:MM local time."),
    Column("window_start_utc", "datetime", 25, "First allowed call, ISO 8601 UTC."),
    Column("window_end_utc", "datetime", 25, "End of that first window, ISO 8601 UTC."),
    Column("language", "string", 16, "Language to speak (BCP 47 tag), may be empty."),
    Column("script", "string", None, "The call script, rendered for this customer."),
    Column("response_code", "string", 9, "Personal response code to quote with the offer."),
    Column("cell", "string", 64, "Campaign cell."),
    Column("customer_ref", "string", 64, "Our customer reference, for the disposition callback."),
    Column("send_id", "integer", 20, "Engine send id: send it back with the disposition."),
)
HEADER: Final = tuple(column.name for column in COLUMNS)
LAYOUT: Final = "layout.json"


class CallListChannel(FileChannel):
    """Writes call sends into call lists; ``sent`` means durably in a list file."""

    name = "call"
    prefix = "calls"
    header = HEADER

    def __init__(self, settings: CallListSettings, clock: Clock = utc_now) -> None:
        super().__init__(settings.out_dir, clock)

    def _row(self, message: Message) -> Row | str:
        fields = message.fields
        if not E164.match(message.to):
            return f"phone {message.to!r} is not E.164"
        zone = fields.get("timezone", "")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            return f"timezone {zone!r} is not an IANA timezone"
        problem = _window_problem(fields.get("window_start", ""), fields.get("window_end", ""))
        problem = problem or _utc_problem(
            fields.get("window_start_utc", ""), fields.get("window_end_utc", "")
        )
        if problem:
            return problem
        if not message.rendered.text.strip():
            return "no call script"
        head = [message.to, fields.get("name", ""), zone]
        window = [fields.get(key, "") for key in HEADER[3:7]]
        tail = [message.response_code or "", message.cell, fields.get("customer_ref", "")]
        return [
            *head,
            *window,
            fields.get("language", ""),
            message.rendered.text,
            *tail,
            str(message.send_id),
        ]

    def _finish(self, folder: Path, now: datetime) -> list[Path]:
        data = parts(folder, self.prefix)
        scan = scan_parts(data, ("cell", "timezone"))
        layout = folder / LAYOUT
        write_durably(layout, json_bytes(record_layout(COLUMNS, scan.longest)))
        files = [file_entry(path, "data") for path in data] + [file_entry(layout, "layout")]
        body = {
            "rows": dict(sorted(scan.counts["cell"].items())),
            "timezones": dict(sorted(scan.counts["timezone"].items())),
            "total": scan.rows,
        }
        return [*data, layout, write_manifest(folder, self.name, now, body, files)]


def _window_problem(start: str, end: str) -> str | None:
    """Why the local window `start`-`end` (HH:MM) is unusable, or None."""
    try:
        first, last = time.fromisoformat(start), time.fromisoformat(end)
    except ValueError:
        return f"calling window {start!r}-{end!r} is not HH:MM-HH:MM"
    if not EARLIEST <= first < last <= LATEST:
        return f"calling window {start}-{end} is outside 08:00-21:00 local time"
    return None


def _utc_problem(start: str, end: str) -> str | None:
    """Why the UTC window `start`-`end` (ISO 8601) is unusable, or None."""
    try:
        first, last = datetime.fromisoformat(start), datetime.fromisoformat(end)
    except ValueError:
        return f"UTC calling window {start!r}-{end!r} is not ISO 8601"
    if first.utcoffset() is None or last.utcoffset() is None or not first < last:
        return f"UTC calling window {start}-{end} must be timezone-aware and start before it ends"
    return None
