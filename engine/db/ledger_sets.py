"""Set-based ledger writes for PostgreSQL: one array per column instead of one row per event.

psycopg parses a statement's placeholders in Python, so a multi-row VALUES
list of 1,000 events (12,000 placeholders) or an executemany of 1,000
UPDATEs costs more on the client than the writes on the server. Here each
write is ONE statement over ``unnest()`` of a handful of array parameters:
the event insert, the delivery-rank update and the first open/click update
of a whole batch. The statements are built from code constants only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, text

from engine.core.tracking.events import DELIVERY_RANK

# Column -> PostgreSQL array type of the event insert.
EVENT_ARRAYS: Final[dict[str, str]] = {
    "event_key": "varchar",
    "source": "varchar",
    "kind": "varchar",
    "send_id": "bigint",
    "campaign_id": "bigint",
    "customer_id": "bigint",
    "occurred_at": "timestamptz",
    "recorded_at": "timestamptz",
    "machine": "boolean",
    "url": "text",
    "detail": "jsonb",
    "batch_id": "bigint",
}
_INSERT: Final = text(
    f"INSERT INTO events ({', '.join(EVENT_ARRAYS)}) SELECT * FROM unnest("
    + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in EVENT_ARRAYS.items())
    + ") ON CONFLICT (event_key) DO NOTHING RETURNING event_key"
)
_RANK: Final = " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in DELIVERY_RANK.items())
# Rows are one per send (the caller keeps the best event of each send), so
# the join never meets a send twice; the rank guard keeps statuses moving up.
_DELIVERY: Final = text(
    "UPDATE sends SET delivery = v.status, delivery_at = v.at "
    "FROM unnest(CAST(:sid AS bigint[]), CAST(:status AS varchar[]), CAST(:rank AS int[]), "
    "CAST(:at AS timestamptz[])) AS v(sid, status, rank, at) "
    f"WHERE sends.id = v.sid AND (CASE sends.delivery {_RANK} ELSE 0 END) < v.rank"
)
_FIRST: Final = {
    column: text(
        f"UPDATE sends SET {column} = v.at "
        "FROM unnest(CAST(:sid AS bigint[]), CAST(:at AS timestamptz[])) AS v(sid, at) "
        f"WHERE sends.id = v.sid AND (sends.{column} IS NULL OR sends.{column} > v.at)"
    )
    for column in ("opened_at", "clicked_at")
}


def insert_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert event rows whose key is new (ON CONFLICT DO NOTHING); returns the inserted keys."""
    columns: dict[str, list[Any]] = {name: [row[name] for row in rows] for name in EVENT_ARRAYS}
    columns["detail"] = [json.dumps(detail) for detail in columns["detail"]]
    return {str(key) for key in conn.execute(_INSERT, columns).scalars()}


def update_delivery(conn: Connection, best: Sequence[tuple[int, str, datetime]]) -> None:
    """(send id, status, at), one per send: the status where it ranks above the send's."""
    conn.execute(
        _DELIVERY,
        {
            "sid": [sid for sid, _, _ in best],
            "status": [status for _, status, _ in best],
            "rank": [DELIVERY_RANK[status] for _, status, _ in best],
            "at": [at for _, _, at in best],
        },
    )


def update_first(conn: Connection, column: str, first: Sequence[tuple[int, datetime]]) -> None:
    """(send id, at), one per send: `column` (opened_at | clicked_at) set where `at` is earlier."""
    conn.execute(_FIRST[column], {"sid": [sid for sid, _ in first], "at": [at for _, at in first]})
