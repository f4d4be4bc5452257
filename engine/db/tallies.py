"""Reading the report tallies that the triggers of migration 0007 keep.

A send's code is its state's ordinal in `STATES` times 16, plus the
delivery outcome (delivered 8, undelivered 4), a human open (2) and a click
(1). A contact's reach is the OR of those flag bits over its sends that
went, plus `WENT` when any went. Both are computed by the triggers (the SQL
is in the migration, frozen with the schema); this module only reads them.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

from engine.db import tally_ddl

# Written only by the triggers: a copy of the database copies contacts and
# sends and lets the triggers count them again (engine.db.sandbox).
TABLES = frozenset({"contact_tallies", "send_tallies"})
STATES = ("queued", "sending", "sent", "unknown", "failed", "skipped", "cancelled")
WENT = 32
DELIVERED = 8
FLAGS = (("delivered", DELIVERED), ("bounced", 4), ("opened", 2), ("clicked", 1))

CONTACTS = text(
    """
    SELECT cell_id, status, reach, SUM(n) AS n FROM contact_tallies
    WHERE campaign_id = :campaign GROUP BY cell_id, status, reach HAVING SUM(n) <> 0
    """
)
"""Treated and held-out contacts per cell, status and reach."""

SENDS = text(
    """
    SELECT step, cell_id, code, SUM(n) AS n FROM send_tallies
    WHERE campaign_id = :campaign GROUP BY step, cell_id, code HAVING SUM(n) <> 0
    """
)
"""Sends of those contacts per step, cell and code."""


def state_of(code: int) -> str:
    """The send state a code was made from (``unknown`` for a code no state makes)."""
    ordinal = code // 16
    return STATES[ordinal - 1] if 1 <= ordinal <= len(STATES) else "unknown"


def cell_sizes(conn: Connection, campaign_id: int) -> dict[int, int]:
    """Treated and held-out contacts per cell id."""
    sizes: dict[int, int] = {}
    for cell_id, _, _, n in conn.execute(CONTACTS, {"campaign": campaign_id}):
        sizes[cell_id] = sizes.get(cell_id, 0) + int(n)
    return sizes


def send_states(conn: Connection, campaign_id: int) -> dict[str, int]:
    """The campaign's sends per state (those to contacts in the experiment: all of them)."""
    states: dict[str, int] = {}
    for _, _, code, n in conn.execute(SENDS, {"campaign": campaign_id}):
        state = state_of(int(code))
        states[state] = states.get(state, 0) + int(n)
    return states


# One folding at a time, so two never wait on each other's new `seq` 0 rows.
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('engine.tallies'))"
_FOLD = """
    WITH moved AS (DELETE FROM {table} WHERE seq <> 0 RETURNING {key}, n)
    INSERT INTO {table} ({key}, seq, n)
    SELECT {key}, 0, SUM(n) FROM moved GROUP BY {key}
    ON CONFLICT ({key}, seq) DO UPDATE SET n = {table}.n + excluded.n
"""
_TABLES = (
    ("contact_tallies", "campaign_id, cell_id, status, reach"),
    ("send_tallies", "campaign_id, cell_id, step, code"),
)


def recount(engine: Engine) -> None:
    """Rebuild every contact's reach and both tallies from the rows, in one transaction.

    For a database whose triggers were bypassed (e.g. rows written with
    PostgreSQL's `session_replication_role = replica`); reads every contact
    and send once.
    """
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("LOCK TABLE contacts, sends IN SHARE ROW EXCLUSIVE MODE"))
        conn.execute(
            text(
                f"UPDATE contacts SET reach = {tally_ddl.reach('contacts.id')}"
                f" WHERE reach <> {tally_ddl.reach('contacts.id')}"
            )
        )
        conn.execute(text("DELETE FROM contact_tallies"))  # the UPDATE's own deltas too
        conn.execute(text("DELETE FROM send_tallies"))
        for statement in tally_ddl.backfill()[1:]:  # [0] sets the reach of sent contacts only
            conn.execute(text(statement))


def compact(engine: Engine) -> None:
    """Fold PostgreSQL's appended tally rows into one row per key (SQLite keeps one already).

    Exact under concurrent writers: the rows one statement deletes are the
    rows it adds up, and rows committed meanwhile wait for the next fold.
    """
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        fold(conn)


def fold(conn: Connection) -> None:
    """`compact` inside the caller's transaction (PostgreSQL only)."""
    conn.execute(text(_LOCK))
    for table, key in _TABLES:
        conn.execute(text(_FOLD.format(table=table, key=key)))
