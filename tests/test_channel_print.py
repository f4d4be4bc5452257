"""PrintFileChannel: drops of print files, layout, proofs, seeds and manifest, on real files."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from pypdf import PdfReader

from engine.channels.drops import pieces_in, unfinished_drops, verify_drop
from engine.channels.print_file import PrintFileChannel
from engine.channels.print_layout import HEADER
from engine.core.sending.message import Message
from engine.files import safe_cell
from engine.render import TemplateRenderer
from engine.settings import PrintSettings, SeedAddress, SenderSettings

ROOT = Path(__file__).resolve().parents[1]
RENDERER = TemplateRenderer(ROOT / "templates", SenderSettings())
NOW = datetime(2026, 12, 1, 7, 31, 16, tzinfo=UTC)
DROP = "20261201T073116Z"
SEEDS = (
    SeedAddress(
        name="Quality Desk",
        address_line1="1 Example Road",
        postal_code="200000",
        city="Shanghai",
        country="CN",
    ),
    SeedAddress(name="Marketing Office", address_line1="5 Rue Neuve", city="Paris", country="FR"),
)


def letter(send_id: int, cell: str, last_name: str = "", **fields: str) -> Message:
    """A mail message as the dispatcher hands it: the real winter letter rendered for one customer."""
    code = f"AB{send_id:02d}-CDEF"
    customer = {
        "first_name": "Anna",
        "last_name": last_name or f"Berg{send_id}",
        "address_line1": f"{send_id} Birch Lane",
        "postal_code": "10115",
        "city": "Berlin",
    }
    rendered = RENDERER.render(
        "mail",
        "catalog/winter",
        {"customer": customer, "vars": {"offer": f"Offer of cell {cell}"}, "response_code": code},
    )
    base = {
        "name": f"Anna {customer['last_name']}",
        "address_line1": customer["address_line1"],
        "postal_code": "10115",
        "city": "Berlin",
        "country": "DE",
        "keycode": f"W26-{cell.upper()}",
        "purl": f"https://shop.example/r/{code}",
    }
    return Message(
        send_id=send_id,
        campaign_key="winter",
        step="catalog",
        cell=cell,
        channel="mail",
        to=f"Anna {customer['last_name']}",
        rendered=rendered,
        response_code=code,
        fields={**base, **fields},
    )


def channel(tmp_path: Path, seeds: tuple[SeedAddress, ...] = SEEDS) -> PrintFileChannel:
    return PrintFileChannel(PrintSettings(out_dir=tmp_path, seeds=seeds), clock=lambda: NOW)


def rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_the_print_file_has_the_exact_header_and_rows_with_seeds(tmp_path: Path) -> None:
    mail = channel(tmp_path)
    outcomes = mail.send([letter(1, "a"), letter(2, "b")])
    assert [(o.send_id, o.kind, o.provider_message_id) for o in outcomes] == [
        (1, "sent", f"{DROP}:1:1"),
        (2, "sent", f"{DROP}:1:2"),
    ]
    part = tmp_path / "winter" / "catalog" / DROP / "print-00001.csv"
    assert part.read_text(encoding="utf-8").splitlines()[0] == (
        "keyline,response_code,purl,qr_payload,name,company_name,address_line1,address_line2,"
        "postal_code,city,region,country,cell,version,send_id,seed"
    )
    assert part.read_text(encoding="utf-8").splitlines()[1:] == [
        "W26-A,AB01-CDEF,https://shop.example/r/AB01-CDEF,https://shop.example/r/AB01-CDEF,"
        "Anna Berg1,,1 Birch Lane,,10115,Berlin,,DE,a,a,1,no",
        "W26-B,AB02-CDEF,https://shop.example/r/AB02-CDEF,https://shop.example/r/AB02-CDEF,"
        "Anna Berg2,,2 Birch Lane,,10115,Berlin,,DE,b,b,2,no",
        f"SEED01-{DROP},,,,Quality Desk,,1 Example Road,,200000,Shanghai,,CN,SEED,a,,yes",
        f"SEED02-{DROP},,,,Marketing Office,,5 Rue Neuve,,,Paris,,FR,SEED,a,,yes",
    ]


def test_formula_cells_are_neutralised(tmp_path: Path) -> None:
    mail = channel(tmp_path, seeds=())
    hostile = letter(
        1,
        "a",
        company_name='=HYPERLINK("http://evil.example","x")',
        address_line2="+1 cmd",
        region="-2+3",
        city="@SUM(A1)",
        postal_code="\t10115",
    )
    assert mail.send([hostile])[0].kind == "sent"
    row = dict(
        zip(HEADER, rows(tmp_path / "winter/catalog" / DROP / "print-00001.csv")[1], strict=True)
    )
    assert row["company_name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert row["address_line2"] == "'+1 cmd"
    assert row["region"] == "'-2+3"
    assert row["city"] == "'@SUM(A1)"
    assert row["postal_code"] == "'\t10115"
    assert row["address_line1"] == "1 Birch Lane"


def test_the_layout_describes_the_csv_columns(tmp_path: Path) -> None:
    mail = channel(tmp_path)
    mail.send([letter(1, "a", last_name="Wolkenstein-Trostburg")])
    mail.flush()
    folder = tmp_path / "winter/catalog" / DROP
    layout = json.loads((folder / "layout.json").read_text())
    fields = layout["fields"]
    assert [f["name"] for f in fields] == rows(folder / "print-00001.csv")[0]
    assert [f["position"] for f in fields] == list(range(1, len(HEADER) + 1))
    by_name = {f["name"]: f for f in fields}
    assert by_name["keyline"]["max_length"] == 35
    assert by_name["keyline"]["longest_in_drop"] == len(f"SEED01-{DROP}")
    assert by_name["name"]["longest_in_drop"] == len("Anna Wolkenstein-Trostburg")
    assert by_name["send_id"]["type"] == "integer"
    assert all(f["description"] for f in fields)
    assert layout["encoding"] == "utf-8" and layout["header_row"] is True


def test_the_manifest_counts_pieces_per_cell_and_seeds_and_checksums_every_file(
    tmp_path: Path,
) -> None:
    mail = channel(tmp_path)
    mail.send([letter(1, "a"), letter(2, "b"), letter(3, "a")])
    mail.send([letter(4, "c"), letter(5, "a")])
    written = mail.flush()
    folder = tmp_path / "winter/catalog" / DROP
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {k: manifest[k] for k in ("campaign", "step", "drop_id", "created_at")} == {
        "campaign": "winter",
        "step": "catalog",
        "drop_id": DROP,
        "created_at": "2026-12-01T07:31:16+00:00",
    }
    assert manifest["pieces"] == {"a": 3, "b": 1, "c": 1}
    assert (manifest["sends"], manifest["seeds"], manifest["total"]) == (5, 2, 7)
    on_disk = sorted(p.name for p in folder.iterdir() if p.name != "manifest.json")
    assert sorted(f["name"] for f in manifest["files"]) == on_disk
    for entry in manifest["files"]:
        content = (folder / entry["name"]).read_bytes()
        assert entry["bytes"] == len(content)
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
    assert sorted(Path(p).name for p in written) == sorted([*on_disk, "manifest.json"])
    assert mail.flush() == []  # the next pass starts afresh


def test_every_cell_and_the_seeds_get_a_pdf_proof_of_their_own_letter(tmp_path: Path) -> None:
    mail = channel(tmp_path)
    mail.send([letter(1, "a"), letter(2, "b"), letter(3, "a")])
    mail.flush()
    folder = tmp_path / "winter/catalog" / DROP
    proofs = sorted(p.name for p in folder.glob("proof-*.pdf"))
    assert proofs == ["proof-SEED.pdf", "proof-a.pdf", "proof-b.pdf"]
    text_a = _pdf_text(folder / "proof-a.pdf")
    assert "Dear Anna Berg1," in text_a and "Your code: AB01-CDEF" in text_a
    assert "Offer of cell a" in text_a and "PROOF" in text_a and "W26-A" in text_a
    assert "Berg3" not in text_a  # the first piece of the cell, not a later one
    text_b = _pdf_text(folder / "proof-b.pdf")
    assert "Dear Anna Berg2," in text_b and "Offer of cell b" in text_b
    seeds = _pdf_text(folder / "proof-SEED.pdf")
    assert "Quality Desk" in seeds and "Marketing Office" in seeds and f"SEED02-{DROP}" in seeds


def _pdf_text(path: Path) -> str:
    assert path.read_bytes().startswith(b"%PDF-")
    reader = PdfReader(path)
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def test_each_pass_opens_a_new_sortable_drop_per_campaign_and_step(tmp_path: Path) -> None:
    mail = channel(tmp_path)
    other_step = Message(**{**_fields_of(letter(9, "a")), "step": "reminder"})
    mail.send([letter(1, "a"), other_step])
    mail.flush()
    mail.send([letter(2, "a")])
    mail.flush()
    assert sorted(p.name for p in (tmp_path / "winter" / "catalog").iterdir()) == [
        DROP,
        f"{DROP}-001",
    ]
    assert [p.name for p in (tmp_path / "winter" / "reminder").iterdir()] == [DROP]
    for folder in (tmp_path / "winter").glob("*/*"):
        seeds = [row for row in rows(folder / "print-00001.csv") if row[-1] == "yes"]
        assert [row[0] for row in seeds] == [f"SEED01-{folder.name}", f"SEED02-{folder.name}"]
        assert [row[14] for row in seeds] == ["", ""]  # seeds are no sends


def _fields_of(message: Message) -> dict[str, object]:
    return {name: getattr(message, name) for name in Message.__slots__}


def test_a_batch_is_a_complete_part_before_it_is_reported_sent(tmp_path: Path) -> None:
    mail = channel(tmp_path, seeds=())
    first = mail.send([letter(1, "a"), letter(2, "a")])
    second = mail.send([letter(3, "b")])
    folder = tmp_path / "winter/catalog" / DROP
    assert sorted(p.name for p in folder.iterdir()) == [
        "print-00001.csv",
        "print-00002.csv",
        "proof-a.html",
        "proof-b.html",
    ]
    for outcome in first + second:
        drop, part, row = outcome.provider_message_id.split(":")  # type: ignore[union-attr]
        record = rows(folder / f"print-{int(part):05d}.csv")[int(row)]
        assert (drop, record[14]) == (DROP, str(outcome.send_id))
    assert not (folder / "manifest.json").exists()  # unfinished until flush


def test_pieces_in_finds_what_a_crashed_pass_wrote_and_the_drop_can_be_finished(
    tmp_path: Path,
) -> None:
    crashed = channel(tmp_path)
    sent = crashed.send([letter(1, "a"), letter(2, "b")]) + crashed.send([letter(3, "a")])
    folder = tmp_path / "winter/catalog" / DROP
    # A torn write: the part that was being written when the process died.
    (folder / ".print-00003.csv.tmp").write_text("keyline,send_id\nW26-A,4\n")
    # A proof source written just before the crash, for a part that never landed.
    (folder / "proof-z.html").write_text("<html><body>cell z</body></html>")
    del crashed

    found = pieces_in(tmp_path, [1, 2, 3, 4, 77])
    assert found == {o.send_id: o.provider_message_id for o in sent}
    assert unfinished_drops(tmp_path) == [folder]

    written = channel(tmp_path).finish(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["pieces"], manifest["seeds"]) == ({"a": 2, "b": 1}, 2)
    assert not list(folder.glob(".*.tmp"))
    assert not (folder / "proof-z.html").exists()
    assert {Path(p).name for p in written} >= {"proof-a.pdf", "proof-b.pdf", "manifest.json"}
    assert unfinished_drops(tmp_path) == []
    assert channel(tmp_path).finish(folder) == []  # finished drops are left alone


def test_messages_that_cannot_be_printed_fail_and_take_no_row(tmp_path: Path) -> None:
    mail = channel(tmp_path, seeds=())
    outcomes = mail.send(
        [
            letter(1, "a", address_line1=""),
            letter(2, "a"),
            letter(3, "a", keycode="K" * 36),
            Message(**{**_fields_of(letter(4, "a")), "cell": "../up"}),
            letter(5, "a"),
        ]
    )
    assert [(o.kind, o.provider_message_id) for o in outcomes] == [
        ("failed", None),
        ("sent", f"{DROP}:1:1"),
        ("failed", None),
        ("failed", None),
        ("sent", f"{DROP}:1:2"),
    ]
    assert "address_line1" in (outcomes[0].error or "")
    assert "35" in (outcomes[2].error or "")
    records = rows(tmp_path / "winter/catalog" / DROP / "print-00001.csv")[1:]
    assert [r[14] for r in records] == ["2", "5"]


def test_a_disk_error_before_the_part_lands_is_a_retry(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    mail = PrintFileChannel(PrintSettings(out_dir=blocked), clock=lambda: NOW)
    outcomes = mail.send([letter(1, "a")])
    assert [(o.kind, o.provider_message_id) for o in outcomes] == [("retry", None)]
    assert "drop folder" in (outcomes[0].error or "")


def test_a_part_that_did_not_land_is_retry_and_one_that_may_have_is_unknown(tmp_path: Path) -> None:
    mail = channel(tmp_path)
    assert [o.kind for o in mail.send([letter(1, "a")])] == ["sent"]
    folder = tmp_path / "winter/catalog" / DROP
    (folder / ".print-00002.csv.tmp").mkdir()  # the part cannot even be opened
    (folder / "print-00003.csv").mkdir()  # written, but the rename over it fails
    second = mail.send([letter(2, "a")])
    third = mail.send([letter(3, "b")])
    fourth = mail.send([letter(4, "b")])
    assert [(o.kind, o.provider_message_id) for o in second + third + fourth] == [
        ("retry", None),
        ("unknown", None),
        ("sent", f"{DROP}:4:1"),
    ]
    assert pieces_in(tmp_path, [1, 2, 3, 4]) == {1: f"{DROP}:1:1", 4: f"{DROP}:4:1"}
    seeds = [row[0] for p in sorted(folder.glob("print-*.csv")) if p.is_file() for row in rows(p)]
    assert [key for key in seeds if key.startswith("SEED")] == [f"SEED01-{DROP}", f"SEED02-{DROP}"]


def test_verify_drop_checks_every_file_against_the_manifest(tmp_path: Path) -> None:
    mail = channel(tmp_path)
    mail.send([letter(1, "a")])
    folder = tmp_path / "winter/catalog" / DROP
    assert verify_drop(folder) == [f"{folder}: no manifest.json, the drop is unfinished"]
    mail.flush()
    assert verify_drop(folder) == []
    part = folder / "print-00001.csv"
    part.write_bytes(part.read_bytes().replace(b"Berg1", b"Berg7"))
    (folder / "proof-a.pdf").unlink()
    problems = verify_drop(folder)
    assert [p.split(":")[0] for p in problems] == ["print-00001.csv", "proof-a.pdf"]
    assert problems[1] == "proof-a.pdf: missing"


def test_plain_numbers_are_not_neutralised_but_formulas_are() -> None:
    assert safe_cell("+4915112345678") == "+4915112345678"  # E.164 for a dialer
    assert safe_cell("-12.50") == "-12.50"
    assert safe_cell("-2+3") == "'-2+3"
    assert safe_cell("+1 cmd") == "'+1 cmd"
    assert safe_cell("=1") == "'=1"
    assert safe_cell("@1") == "'@1"
