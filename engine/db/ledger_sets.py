"""Set-based ledger writes for PostgreSQL: a whole batch as ONE JSON parameter per statement.

psycopg builds parameters in Python: a multi-row VALUES list of 1,000
events (12,000 placeholders), an executemany of 1,000 UPDATEs, or even
text arrays (each element quoted through a regular expression) cost more
on the client than the writes on the server. Here the rows of a batch are
serialised by orjson (C) into one JSON document and the server expands it
with ``json_to_recordset``: the event insert and the one update of the
batch's sends are one statement and one parameter each. The statements are
built from code constants only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import orjson
from sqlalchemy import Connection, text

from engine.core.tracking.events import DELIVERY_RANK

# Column -> PostgreSQL type of the event insert (the keys of every row).
EVENT_COLUMNS: Final[dict[str, str]] = {
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
_NAMES: Final = ", ".join(EVENT_COLUMNS)
_INSERT: Final = text(
    f"INSERT INTO events ({_NAMES}) SELECT {_NAMES} FROM json_to_recordset(CAST(:rows AS json))"
    f" AS r({', '.join(f'{name} {kind}' for name, kind in EVENT_COLUMNS.items())})"
    " ON CONFLICT (event_key) DO NOTHING RETURNING event_key"
)
# A send's delivery status as its rank (the same SQL on SQLite).
SEND_RANK: Final = (
    "(CASE sends.delivery "
    + " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in DELIVERY_RANK.items())
    + " ELSE 0 END)"
)
# One row per send (the caller reduces a batch to that: the best-ranked
# status and the earliest human open and click), so the join never meets a
# send twice; each send row is updated once, and the report tallies'
# statement triggers run once for the whole batch. The status only moves
# up in rank; LEAST ignores NULLs, so an open or click time only moves earlier.
_SENDS: Final = text(
    "UPDATE sends SET"
    f" delivery = CASE WHEN v.rank > {SEND_RANK} THEN v.status ELSE sends.delivery END,"
    f" delivery_at = CASE WHEN v.rank > {SEND_RANK} THEN v.at ELSE sends.delivery_at END,"
    " opened_at = LEAST(sends.opened_at, v.opened),"
    " clicked_at = LEAST(sends.clicked_at, v.clicked)"
    " FROM json_to_recordset(CAST(:rows AS json)) AS v(sid bigint, status varchar, rank int,"
    " at timestamptz, opened timestamptz, clicked timestamptz)"
    f" WHERE sends.id = v.sid AND (v.rank > {SEND_RANK}"
    " OR LEAST(sends.opened_at, v.opened) IS DISTINCT FROM sends.opened_at"
    " OR LEAST(sends.clicked_at, v.clicked) IS DISTINCT FROM sends.clicked_at)"
)


def insert_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert event rows whose key is new (ON CONFLICT DO NOTHING); returns the inserted keys.

    Every row has the keys of `EVENT_COLUMNS`; times are timezone-aware.
    """
    return set(conn.execute(_INSERT, {"rows": _json(rows)}).scalars().all())  # one fetchall


def update_sends(conn: Connection, changes: Sequence[dict[str, Any]]) -> None:
    """Apply one change per send: ``sid``, ``status``/``rank``/``at`` (rank 0: no status),
    ``opened`` and ``clicked`` (None: none in the batch)."""
    conn.execute(_SENDS, {"rows": _json(changes)})


def _json(rows: Sequence[dict[str, Any]]) -> str:
    # orjson writes aware datetimes in RFC 3339 with their offset.
    return orjson.dumps(rows).decode()
