"""How an import runs in this process: garbage collection and parser workers.

Entry-point concerns (process settings, worker processes), kept out of the
import use cases, which only receive an executor.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager

from engine.settings import ImportSettings

# Young objects collected every 50,000 allocations instead of 700: an import
# allocates a few dicts, tuples and records per row, most of them kept until
# their batch is written, and each collection walked them all again.
BULK_GC_THRESHOLD = (50_000, 20, 100)


@contextmanager
def bulk_gc() -> Iterator[None]:
    """Cheaper garbage collection while an import runs.

    The cyclic collector cost a customer import about a third of its CPU
    time (~35 µs of ~110 µs per row): it ran every 700 allocations and its
    full passes walked every long-lived object of the process (SQLAlchemy,
    the phone metadata). Those are frozen (left out of collections) and the
    young generation is collected less often; both are restored afterwards.
    """
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*BULK_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def _worker_started() -> None:
    """Parser worker processes collect garbage as the importing process does."""
    gc.freeze()
    gc.set_threshold(*BULK_GC_THRESHOLD)


@contextmanager
def parser_pool(settings: ImportSettings, rows: int) -> Iterator[tuple[Executor | None, int]]:
    """Worker processes that parse batches while this process writes to the
    database, and how many batches to keep in flight (two per worker).

    Only for files of more than two batches (starting workers costs a moment);
    `imports.workers` = 1 keeps all parsing in this process.
    """
    workers = settings.workers or os.cpu_count() or 1
    if workers <= 1 or rows <= 2 * settings.batch_size:
        yield None, 0
        return
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_started) as pool:
        yield pool, 2 * workers
