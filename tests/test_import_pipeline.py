"""How imports run: order batches written on a writer thread while the next one parses,
and the garbage collector tuned for the bulk of short-lived rows."""

from __future__ import annotations

import gc
import multiprocessing
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.cli.import_runtime import BULK_GC_THRESHOLD, bulk_gc
from engine.core.orders import OrderOptions, OrderRecord
from engine.files import CsvFile, RawRow, RejectsFile, TextChunk, open_csv
from engine.services.importing import FileInfo, import_orders

from .helpers import write_csv

NOW = datetime(2026, 11, 1, tzinfo=UTC)
OPTIONS = OrderOptions("CNY", {"USD": Decimal("7.1")}, ZoneInfo("Asia/Shanghai"), NOW)
MAPPING = {name: name for name in ("order_id", "customer_id", "ordered_at", "amount")}


class FakeOrderStore:
    """Keeps the batches it was given; refuses the batch that holds `fail_on`."""

    def __init__(self, fail_on: str | None = None, writers: int = 1) -> None:
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()
        self.fail_on = fail_on
        self.writers = writers
        # With two writers the first two batches must be loading at the same time.
        self.together = threading.Barrier(writers) if writers > 1 else None

    def load(
        self, records: list[OrderRecord], customer_source: str, batch_id: int
    ) -> tuple[int, list[tuple[int, str]]]:
        self.threads.add(threading.current_thread().name)
        refs = [r.order_ref for r in records]
        if self.together and refs[0] in ("o0", "o3"):
            self.together.wait(timeout=5)
        if refs[-1] == "o8":
            time.sleep(0.05)  # finishes after the batch behind it: results still come in order
        if self.fail_on in refs:
            raise RuntimeError("database gone")
        self.batches.append(refs)
        unknown = [(r.line, r.customer_ref) for r in records if r.customer_ref == "nobody"]
        return len(records) - len(unknown), unknown


class FakeLog:
    def __init__(self) -> None:
        self.finished: list[object] = []

    def begin(self, **fields: object) -> int:
        return 1

    def finish(
        self, batch_id: int, counts: object, rejects_path: str | None, now: datetime
    ) -> None:
        self.finished.append(counts)


def _run(tmp_path: Path, store: FakeOrderStore, log: FakeLog) -> RejectsFile:
    rows = [
        [f"o{i}", "nobody" if i % 4 == 3 else "c", "2026-10-01T10:00:00Z", "1.00"]
        for i in range(10)
    ]
    table = open_csv(write_csv(tmp_path / "o.csv", list(MAPPING), rows))
    sink = RejectsFile(tmp_path / "rejects.csv", table.header)
    with ThreadPoolExecutor(store.writers, thread_name_prefix="writer") as writer:
        try:
            import_orders(
                table, FileInfo("o.csv", table.sha256), source="shop", customer_source="shop",
                mapping=MAPPING, options=OPTIONS, batch_size=3, store=store, log=log,
                rejects=sink, now=NOW, writer=writer,
            )  # fmt: skip
        finally:
            sink.close()
    return sink


def test_batches_are_written_on_the_writer_in_file_order(tmp_path: Path) -> None:
    store, log = FakeOrderStore(), FakeLog()
    sink = _run(tmp_path, store, log)
    assert store.batches == [["o0", "o1", "o2"], ["o3", "o4", "o5"], ["o6", "o7", "o8"], ["o9"]]
    assert store.threads and all(name.startswith("writer") for name in store.threads)
    lines = (tmp_path / "rejects.csv").read_text().splitlines()[1:]
    assert [line.split(",")[0] for line in lines] == ["5", "9"]  # o3, o7, in file order
    assert sink.count == 2 and log.finished


def test_two_writers_load_batches_side_by_side_and_report_in_file_order(tmp_path: Path) -> None:
    store, log = FakeOrderStore(writers=2), FakeLog()
    sink = _run(tmp_path, store, log)  # the barrier fails unless batches 1 and 2 overlap
    assert sorted(store.batches) == [
        ["o0", "o1", "o2"],
        ["o3", "o4", "o5"],
        ["o6", "o7", "o8"],
        ["o9"],
    ]
    assert store.batches.index(["o9"]) < store.batches.index(["o6", "o7", "o8"])
    assert len(store.threads) == 2
    lines = (tmp_path / "rejects.csv").read_text().splitlines()[1:]
    assert [line.split(",")[0] for line in lines] == ["5", "9"]  # o3, o7, in file order
    assert sink.count == 2 and log.finished


def test_a_failed_batch_stops_the_import_before_the_next_is_written(tmp_path: Path) -> None:
    store, log = FakeOrderStore(fail_on="o4"), FakeLog()
    with pytest.raises(RuntimeError, match="database gone"):
        _run(tmp_path, store, log)
    assert store.batches == [["o0", "o1", "o2"]]  # o6.. were parsed but never submitted
    assert not log.finished


def test_with_two_writers_a_failed_batch_stops_the_import_too(tmp_path: Path) -> None:
    store, log = FakeOrderStore(fail_on="o4", writers=2), FakeLog()
    with pytest.raises(RuntimeError, match="database gone"):
        _run(tmp_path, store, log)
    # o6.. was already loading when the failure was seen; o9 is never submitted
    assert store.batches == [["o0", "o1", "o2"], ["o6", "o7", "o8"]]
    assert not log.finished


def test_imports_collect_garbage_less_often_and_restore_the_collector() -> None:
    before = gc.get_threshold()
    with bulk_gc():
        assert gc.get_threshold() == BULK_GC_THRESHOLD
        assert gc.get_freeze_count() > 0  # the process's long-lived objects are left alone
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


class ChunksOnly:
    """A table whose rows cannot be read here: only in chunks, elsewhere."""

    def __init__(self, table: CsvFile) -> None:
        self.table = table
        self.header = table.header

    def rows(self) -> Iterator[RawRow]:
        raise AssertionError("the importing process read the rows itself")

    def chunks(self, size: int) -> Iterator[TextChunk]:
        return self.table.chunks(size)


def test_order_batches_parse_in_worker_processes_from_text(tmp_path: Path) -> None:
    rows = [
        [
            f"o{i}",
            "nobody" if i % 4 == 3 else "c",
            "2026-10-01T10:00:00Z",
            "x" if i == 5 else "1.00",
        ]
        for i in range(10)
    ]
    table = open_csv(write_csv(tmp_path / "o.csv", list(MAPPING), rows))
    sink = RejectsFile(tmp_path / "rejects.csv", table.header)
    store, log = FakeOrderStore(), FakeLog()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool, ThreadPoolExecutor(1) as writer:
        import_orders(
            ChunksOnly(table), FileInfo("o.csv", table.sha256), source="shop", customer_source="shop",
            mapping=MAPPING, options=OPTIONS, batch_size=3, store=store, log=log,
            rejects=sink, now=NOW, writer=writer, executor=pool, in_flight=4,
        )  # fmt: skip
    sink.close()
    assert store.batches == [["o0", "o1", "o2"], ["o3", "o4"], ["o6", "o7", "o8"], ["o9"]]
    lines = (tmp_path / "rejects.csv").read_text().splitlines()[1:]
    assert [line.split(",")[0] for line in lines] == ["5", "7", "9"]  # o3, o5 (bad amount), o7
    assert lines[1].endswith("o5,c,2026-10-01T10:00:00Z,x")  # cells from the worker
    assert lines[0].endswith("o3,nobody,2026-10-01T10:00:00Z,1.00")  # cells read again here
