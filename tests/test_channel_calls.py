"""CallListChannel: call lists with per-row timezone and calling window, on real files."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from engine.channels.call_list import HEADER, CallListChannel
from engine.channels.drops import pieces_in
from engine.core.sending.message import Message
from engine.render import TemplateRenderer
from engine.settings import CallListSettings, SenderSettings

ROOT = Path(__file__).resolve().parents[1]
RENDERER = TemplateRenderer(ROOT / "templates", SenderSettings())
NOW = datetime(2026, 12, 1, 7, 31, 16, tzinfo=UTC)
LIST = "20261201T073116Z"
BERLIN = {
    "timezone": "Europe/Berlin",
    "window_start": "09:00",
    "window_end": "20:00",
    "window_start_utc": "2026-12-01T08:00:00+00:00",
    "window_end_utc": "2026-12-01T19:00:00+00:00",
    "language": "de",
}
NEW_YORK = {
    "timezone": "America/New_York",
    "window_start": "10:00",
    "window_end": "19:30",
    "window_start_utc": "2026-12-01T15:00:00+00:00",
    "window_end_utc": "2026-12-02T00:30:00+00:00",
    "language": "en-US",
}


def call(send_id: int, phone: str, zone: dict[str, str], cell: str = "a", **fields: str) -> Message:
    """A call message as the dispatcher hands it: the real win-back script for one customer."""
    code = f"CD{send_id:02d}-EFGH"
    script = RENDERER.render(
        "call",
        "winback/script",
        {
            "customer": {"first_name": f"Kim{send_id}"},
            "metrics": {"lifecycle": "lapsed"},
            "vars": {"discount": 15},
            "response_code": code,
        },
    )
    base = {"name": f"Kim{send_id} Lee", "customer_ref": f"C-{send_id}", **zone}
    return Message(
        send_id=send_id,
        campaign_key="winback",
        step="call",
        cell=cell,
        channel="call",
        to=phone,
        rendered=script,
        response_code=code,
        fields={**base, **fields},
    )


def channel(tmp_path: Path) -> CallListChannel:
    return CallListChannel(CallListSettings(out_dir=tmp_path), clock=lambda: NOW)


def rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_each_row_carries_its_own_timezone_window_and_script(tmp_path: Path) -> None:
    calls = channel(tmp_path)
    outcomes = calls.send(
        [call(1, "+4915112345678", BERLIN), call(2, "+12125550123", NEW_YORK, cell="b")]
    )
    assert [(o.kind, o.provider_message_id) for o in outcomes] == [
        ("sent", f"{LIST}:1:1"),
        ("sent", f"{LIST}:1:2"),
    ]
    part = tmp_path / "winback" / "call" / LIST / "calls-00001.csv"
    header, berlin, new_york = rows(part)
    assert header == [
        "phone",
        "name",
        "timezone",
        "window_start",
        "window_end",
        "window_start_utc",
        "window_end_utc",
        "language",
        "script",
        "response_code",
        "cell",
        "customer_ref",
        "send_id",
    ]
    script = berlin[8]
    assert berlin[:8] == [
        "+4915112345678",  # a plain number: not neutralised
        "Kim1 Lee",
        "Europe/Berlin",
        "09:00",
        "20:00",
        "2026-12-01T08:00:00+00:00",
        "2026-12-01T19:00:00+00:00",
        "de",
    ]
    assert berlin[9:] == ["CD01-EFGH", "a", "C-1", "1"]
    assert script.startswith("CALL SCRIPT – WIN-BACK\n") and "code CD01-EFGH" in script
    assert "Am I speaking with Kim1?" in script and "\n2. Reason for the call\n" in script
    assert new_york[:8] == [
        "+12125550123",
        "Kim2 Lee",
        "America/New_York",
        "10:00",
        "19:30",
        "2026-12-01T15:00:00+00:00",
        "2026-12-02T00:30:00+00:00",
        "en-US",
    ]
    assert new_york[9:] == ["CD02-EFGH", "b", "C-2", "2"]


def test_formula_cells_are_neutralised(tmp_path: Path) -> None:
    calls = channel(tmp_path)
    calls.send([call(1, "+4915112345678", BERLIN, name="=cmd|' /C calc'!A0", customer_ref="@x")])
    row = dict(
        zip(HEADER, rows(tmp_path / "winback/call" / LIST / "calls-00001.csv")[1], strict=True)
    )
    assert (row["name"], row["customer_ref"]) == ("'=cmd|' /C calc'!A0", "'@x")


def test_rows_that_cannot_be_called_fail(tmp_path: Path) -> None:
    calls = channel(tmp_path)
    early = {**BERLIN, "window_start": "07:30"}
    naive = {**BERLIN, "window_end_utc": "2026-12-01T19:00:00"}
    outcomes = calls.send(
        [
            call(1, "015112345678", BERLIN),
            call(2, "+4915112345678", {**BERLIN, "timezone": "Mars/Olympus"}),
            call(3, "+4915112345678", early),
            call(4, "+4915112345678", naive),
            call(5, "+4915112345678", {**BERLIN, "window_end": "21:30"}),
            call(6, "+4915112345678", BERLIN),
        ]
    )
    assert [o.kind for o in outcomes] == ["failed"] * 5 + ["sent"]
    errors = [o.error or "" for o in outcomes[:5]]
    assert "E.164" in errors[0] and "IANA" in errors[1] and "08:00-21:00" in errors[2]
    assert "timezone-aware" in errors[3] and "08:00-21:00" in errors[4]
    assert [r[-1] for r in rows(tmp_path / "winback/call" / LIST / "calls-00001.csv")[1:]] == ["6"]


def test_the_manifest_summarises_rows_per_cell_and_timezone_with_checksums(tmp_path: Path) -> None:
    calls = channel(tmp_path)
    calls.send([call(1, "+4915112345678", BERLIN), call(2, "+12125550123", NEW_YORK, cell="b")])
    calls.send([call(3, "+4915112345679", BERLIN, cell="b")])
    assert pieces_in(tmp_path, [3, 4]) == {3: f"{LIST}:2:1"}
    calls.flush()
    folder = tmp_path / "winback/call" / LIST
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["channel"], manifest["campaign"], manifest["step"]) == (
        "call",
        "winback",
        "call",
    )
    assert manifest["rows"] == {"a": 1, "b": 2}
    assert manifest["timezones"] == {"America/New_York": 1, "Europe/Berlin": 2}
    assert manifest["total"] == 3
    names = [entry["name"] for entry in manifest["files"]]
    assert names == ["calls-00001.csv", "calls-00002.csv", "layout.json"]
    for entry in manifest["files"]:
        content = (folder / entry["name"]).read_bytes()
        assert (entry["bytes"], entry["sha256"]) == (
            len(content),
            hashlib.sha256(content).hexdigest(),
        )
    layout = json.loads((folder / "layout.json").read_text())
    assert [f["name"] for f in layout["fields"]] == list(HEADER)
