"""CSV files read in chunks of whole records, parsed where they are iterated."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from engine.bootstrap import Adapters
from engine.errors import InputFileError
from engine.files import open_csv, printable

from .helpers import load_customers, read_rejects

TRICKY = (
    "id,name,note\r\n"
    'a1,"Chen, Harbor Co.",plain\r\n'
    'a2,"two\nlines",x\r\n'
    "\r\n"  # a blank record: skipped, but it is a line
    'a3,24" monitor,"he said ""hi""\n'
    'and left"\r\n'
    'a4,b"c,"quoted\r\nline break",d,extra\r\n'
    "a5,,\r\n"
    'a6,"x\ry",z'  # a bare carriage return inside quotes, no newline at the end
)


@pytest.mark.parametrize("size", [1, 2, 3, 100])
def test_chunks_read_into_exactly_the_rows_of_the_file(tmp_path: Path, size: int) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(b"\xef\xbb\xbf" + TRICKY.encode())
    table = open_csv(path)
    chunks = list(table.chunks(size))
    chunked = [row for chunk in chunks for row in pickle.loads(pickle.dumps(chunk))]
    assert chunked == list(table.rows())
    assert [line for line, _, _ in chunked] == [2, 3, 6, 8, 10, 11]
    assert chunked[3] == (
        8,
        ["a4", 'b"c', "quoted\r\nline break", "d", "extra"],
        "5 cells but the header has 3",
    )
    assert chunked[2][1] == ["a3", '24" monitor', 'he said "hi"\nand left']
    assert all(len(list(chunk)) <= size for chunk in chunks)


def test_a_record_that_is_not_utf8_is_a_bad_row_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    good = b"".join(b"a%d,x\n" % i for i in range(20_000))
    latin = "M\u00fcnchen".encode("cp1252")  # Excel's "CSV" on Windows
    path.write_bytes(b"id,name\n" + good + b"bad," + latin + b'\nq,"two\nlines \xff"\nlast,y\n')
    table = open_csv(path)
    assert not table.utf8
    for rows in (list(table.rows()), [r for c in table.chunks(5000) for r in c]):
        assert len(rows) == 20_003  # nothing after the bad rows is lost
        assert rows[20_000] == (
            20_002,
            ["bad", "M\udcfcnchen"],
            "not UTF-8: byte 0xFC in 'name' (save the file as UTF-8, or correct that cell)",
        )
        assert rows[20_001][0] == 20_003 and "byte 0xFF in 'name'" in str(rows[20_001][2])
        assert rows[20_002] == (20_005, ["last", "y"], None)
        assert {problem for _, _, problem in rows[:20_000]} == {None}
    assert printable(rows[20_000][1][1]) == "M\ufffdnchen"


def test_a_header_that_is_not_utf8_refuses_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes("id,stra\u00dfe\n1,x\n".encode("cp1252"))
    with pytest.raises(
        InputFileError, match=r"c\.csv:1: header row not UTF-8: byte 0xDF in cell 2"
    ):
        open_csv(path)


def test_utf8_split_across_read_blocks_is_still_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    head = b"id,name\n" + (b"r," + b"x" * 97 + b"\n") * 10_485
    last = b"z," + b"x" * ((1 << 20) - 1 - len(head) - 2)  # the 2-byte "\u00fc" straddles 1 MiB
    path.write_bytes(head + last + "\u00fc\n".encode())
    assert len(head + last) == (1 << 20) - 1
    table = open_csv(path)
    assert table.utf8
    assert {problem for _, _, problem in table.rows()} == {None}


def test_a_field_past_the_csv_limit_stops_the_file_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(b"id,name\n1,a\n2," + b"x" * 200_000 + b"\n3,c\n")
    for read in (lambda t: list(t.rows()), lambda t: [r for c in t.chunks(5000) for r in c]):
        with pytest.raises(InputFileError, match=r"c\.csv:3: cannot read CSV: field larger"):
            read(open_csv(path))


@pytest.mark.parametrize("workers", [1, 2])
def test_an_import_keeps_the_rows_around_one_that_is_not_utf8(
    adapters: Adapters, tmp_path: Path, workers: int
) -> None:
    path = tmp_path / "people.csv"
    rows = [f"c{i},p{i}@example.com" for i in range(30)]
    lines = ["external_id,email", *rows[:10], "c-bad,m\u00fcller@example.com", *rows[10:]]
    path.write_bytes("\n".join(lines).encode("cp1252") + b"\n")
    settings = adapters.settings.imports
    object.__setattr__(settings, "batch_size", 10)  # 4 batches: worker processes with 2
    object.__setattr__(settings, "workers", workers)
    done = load_customers(adapters, path)
    assert (done.counts.read, done.counts.inserted, done.counts.rejected) == (31, 30, 1)
    assert done.reasons == {"not UTF-8": 1}
    [reject] = read_rejects(done.rejects_path)
    assert reject["line"] == "12" and "byte 0xFC in 'email'" in reject["reason"]
    assert reject["email"] == "m\ufffdller@example.com"
