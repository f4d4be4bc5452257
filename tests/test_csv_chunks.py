"""CSV files read in chunks of whole records, parsed where they are iterated."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from engine.errors import InputFileError
from engine.files import open_csv

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


def test_a_file_that_cannot_be_decoded_is_refused_near_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    good = b"".join(b"a%d,x\n" % i for i in range(20_000))  # past open_csv's first read
    path.write_bytes(b"id,name\n" + good + b"bad,\xff\n")
    with pytest.raises(InputFileError, match=r"c\.csv:(\d+): cannot read CSV") as chunked:
        list(open_csv(path).chunks(5000))
    with pytest.raises(InputFileError, match=r"c\.csv:(\d+): cannot read CSV") as rowed:
        list(open_csv(path).rows())
    # text is decoded 8 KB ahead of the line being read: the line named is
    # at most that far before the bad one (20,002), as with the row reader
    for raised in (chunked, rowed):
        line = int(str(raised.value).split(":")[1])
        assert 20_002 - 1_000 < line <= 20_002
