"""Mail and call steps dispatched end to end into print drops and call lists."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

from engine.bootstrap import Adapters, bootstrap, channels, dispatch_ports, dispatch_rules
from engine.db.models import Contact, Send
from engine.services.dispatching import dispatch_due
from engine.settings import Settings

from .fakes import FakeClock
from .test_dispatch import launch, people, table

MAIL = """\
key: mail-drop
name: Mail drop
groups:
  control: 10%
  cells:
    catalog: {share: 90%, vars: {offer: "CNY 50 off"}}
schedule:
  start: 2026-11-05 09:00
  timezone: Asia/Shanghai
steps:
  - id: catalog
    channel: mail
    template: catalog/winter
    keyline: WCAT26
"""
CALL = (
    MAIL.replace("key: mail-drop", "key: call-list")
    .replace(
        "channel: mail\n    template: catalog/winter\n    keyline: WCAT26",
        'channel: call\n    template: winback/script\n    hours: "10:00-18:00"',
    )
    .replace('vars: {offer: "CNY 50 off"}', "vars: {discount: 10}")
)
AT = datetime(2026, 11, 5, 3, 0, tzinfo=UTC)  # 11:00 Shanghai, Thursday


def files_adapters(database_url: str, tmp_path: Path) -> Adapters:
    settings = Settings.model_validate(
        {
            "channels": {
                "print": {"out_dir": str(tmp_path / "print")},
                "calls": {"out_dir": str(tmp_path / "calls")},
            }
        }
    )
    return bootstrap(settings, database_url)


def run(adapters: Adapters) -> list[str]:
    clock = FakeClock(AT)
    report = dispatch_due(
        dispatch_ports(adapters),
        channels(adapters, clock),
        dispatch_rules(adapters, "w"),
        clock,
        clock.sleep,
    )
    return report.files


def test_a_mail_step_becomes_a_finished_print_drop(database_url: str, tmp_path: Path) -> None:
    adapters = files_adapters(database_url, tmp_path)
    people(adapters, 30, address_line1="1 Bund Road", postal_code="200000", city="Shanghai")
    launch(adapters, MAIL)
    written = run(adapters)
    sends = table(adapters, Send)
    assert {s["state"] for s in sends} == {"sent"} and sends
    manifest = json.loads(next(Path(p) for p in written if p.endswith("manifest.json")).read_text())
    assert manifest["sends"] == len(sends)
    part = next((tmp_path / "print").rglob("print-00001.csv"))
    rows = list(csv.DictReader(part.read_text(encoding="utf-8").splitlines()))
    codes = {c["response_code"] for c in table(adapters, Contact) if c["status"] == "treated"}
    assert {row["response_code"] for row in rows} == codes
    assert {row["keyline"] for row in rows} == {"WCAT26-CATALOG"}
    assert all(row["purl"] == "http://127.0.0.1:5000/r/" + row["response_code"] for row in rows)
    assert {row["city"] for row in rows} == {"Shanghai"}
    assert {s["provider_message_id"].split(":")[0] for s in sends} == {part.parent.name}
    adapters.engine.dispose()


def test_a_call_step_becomes_a_call_list_with_local_windows(
    database_url: str, tmp_path: Path
) -> None:
    adapters = files_adapters(database_url, tmp_path)
    people(adapters, 20)
    launch(adapters, CALL)
    run(adapters)
    part = next((tmp_path / "calls").rglob("calls-00001.csv"))
    rows = list(csv.DictReader(part.read_text(encoding="utf-8").splitlines()))
    assert len(rows) == len(table(adapters, Send)) > 0
    first = rows[0]
    assert first["timezone"] == "Asia/Shanghai"
    assert (first["window_start"], first["window_end"]) == ("10:00", "18:00")
    assert first["window_start_utc"] == "2026-11-05T02:00:00+00:00"
    assert first["window_end_utc"] == "2026-11-05T10:00:00+00:00"
    assert first["phone"].lstrip("'").startswith("+86139")
    adapters.engine.dispose()
