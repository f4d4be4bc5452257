"""Webhook speed: no row-by-row foreign-key checks on the events a webhook batch writes.

A signed SendGrid batch inserts 1,000 events in one statement. PostgreSQL
checks each foreign key with a trigger call per row; `send_id`,
`campaign_id` and `customer_id` of an event are copied from the send row
the same transaction has just read (`engine.db.ledger`), or, without a
send, the customer id a lookup in the same transaction returned;
`batch_id` is the id of the raw batch the same request has just stored
(the last of the four checks cost 3 of a batch insert's ~13 ms). Nothing in
the engine deletes sends, campaigns, customers or webhook batches, and
`campaign db check` (engine.db.integrity) finds any event that lost its
send, customer or batch, or whose campaign and customer are not its send's.

PostgreSQL: the report tallies' sends-updated statement trigger (0007)
joined the changed sends to `contacts`; not knowing how few rows a
transition table holds, the planner hashed every contact (13 of the 21 ms
a batch's trigger took on 40,000 contacts, growing with the table). It now
looks each contact up by primary key: the same counts
(engine.db.tally_ddl.postgresql_sends_updated).

PostgreSQL (14+, built with lz4): raw batch bodies are compressed with lz4
instead of pglz, 1.4 of the ~2.7 ms a 250 kB SendGrid body took to store.

Chained after 0008 for now (a 0009 may land first and re-chain it).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

from engine.db.tally_ddl import postgresql_sends_updated

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

KEYS = (
    ("fk_events_send_id_sends", "sends", "send_id"),
    ("fk_events_campaign_id_campaigns", "campaigns", "campaign_id"),
    ("fk_events_customer_id_customers", "customers", "customer_id"),
    ("fk_events_batch_id_webhook_batches", "webhook_batches", "batch_id"),
)


def upgrade() -> None:
    # SQLite rebuilds `events` (no triggers on it to keep).
    with op.batch_alter_table("events", schema=None) as batch_op:
        for name, _, _ in KEYS:
            batch_op.drop_constraint(name, type_="foreignkey")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(postgresql_sends_updated(lookup=True))
        if _lz4():
            op.execute("ALTER TABLE webhook_batches ALTER COLUMN body SET COMPRESSION lz4")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(postgresql_sends_updated(lookup=False))
        if _lz4():  # rows written since keep their lz4; pglz reads them
            op.execute("ALTER TABLE webhook_batches ALTER COLUMN body SET COMPRESSION pglz")
    with op.batch_alter_table("events", schema=None) as batch_op:
        for name, parent, column in KEYS:
            batch_op.create_foreign_key(name, parent, [column], ["id"])


def _lz4() -> bool:
    """True when this PostgreSQL server can compress with lz4."""
    found = op.get_bind().exec_driver_sql(
        "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression'"
        " AND 'lz4' = ANY(enumvals)"
    )
    return found.first() is not None
