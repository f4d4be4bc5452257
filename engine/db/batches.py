"""Named statements for the import log (`import_batches`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, insert, update

from engine.core.counts import ImportCounts as BatchCounts
from engine.db.models import ImportBatch

T = ImportBatch.__table__


class SqlImportLog:
    """The import-log port: one row per `campaign import` run."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def begin(self, **fields: object) -> int:
        return begin_batch(self.engine, **fields)  # type: ignore[arg-type]

    def finish(
        self, batch_id: int, counts: BatchCounts, rejects_path: str | None, now: datetime
    ) -> None:
        finish_batch(self.engine, batch_id, counts, rejects_path, now)


def begin_batch(
    engine: Engine,
    *,
    kind: str,
    source_name: str,
    origin: str,
    file_name: str,
    file_sha256: str,
    now: datetime,
) -> int:
    """Record the start of an import (committed at once, so a crash leaves a trace)."""
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(T)
                .values(
                    kind=kind,
                    source_name=source_name,
                    origin=origin,
                    file_name=file_name,
                    file_sha256=file_sha256,
                    started_at=now,
                    rows_read=0,
                    rows_inserted=0,
                    rows_merged=0,
                    rows_unchanged=0,
                    rows_rejected=0,
                )
                .returning(T.c.id)
            ).scalar_one()
        )


def finish_batch(
    engine: Engine, batch_id: int, counts: BatchCounts, rejects_path: str | None, now: datetime
) -> None:
    """Store the final counts of an import."""
    with engine.begin() as conn:
        conn.execute(
            update(T)
            .where(T.c.id == batch_id)
            .values(
                finished_at=now,
                rows_read=counts.read,
                rows_inserted=counts.inserted,
                rows_merged=counts.merged,
                rows_unchanged=counts.unchanged,
                rows_rejected=counts.rejected,
                rejects_path=rejects_path,
            )
        )
