"""Responses (business outcomes) written once per (source, source_ref, kind)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from engine.db.models import Response
from engine.db.upsert import insert_new


def insert_responses(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert responses new to the table (uq_responses_source_ref); returns their ids.

    A row repeats when a webhook is retried or an order file re-imported:
    ON CONFLICT DO NOTHING keeps the first, so every outcome counts once.
    """
    if not rows:
        return []
    statement = insert_new(conn, Response, ["source", "source_ref", "kind"])
    return [int(i) for i in conn.execute(statement.returning(Response.id), rows).scalars()]
