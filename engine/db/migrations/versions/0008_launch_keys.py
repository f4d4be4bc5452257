"""Launch speed: no row-by-row foreign-key checks on the contacts and sends a launch writes.

A launch inserts a million contacts and half a million sends in one
statement each. PostgreSQL checks a foreign key with a trigger call per row
(`SELECT 1 FROM parent WHERE id = $1 FOR KEY SHARE`): the three keys of
`contacts` (campaign, cell, customer; the customer check also locks, and so
dirties, every customer row) and `sends.contact_id` cost a 1M launch about
7 s of its 18.5 s (quiet 2-core machine), SQLite about 1.4 s. Every id they
guard is one the same transaction has just read or written, and nothing in
the engine deletes campaigns, cells, customers or contacts;
`campaign db check` (engine.db.integrity) finds any row that lost its parent.
The other tables keep their keys.

SQLite rebuilds both tables to drop a key: the report tallies' triggers
(0007) are dropped first (a rename fails on a trigger that names the
renamed table) and created again after.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

from engine.db.tally_ddl import SQLITE_TRIGGERS, sqlite_triggers

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

KEYS = (
    ("contacts", "fk_contacts_campaign_id_campaigns", "campaigns", "campaign_id"),
    ("contacts", "fk_contacts_cell_id_cells", "cells", "cell_id"),
    ("contacts", "fk_contacts_customer_id_customers", "customers", "customer_id"),
    ("sends", "fk_sends_contact_id_contacts", "contacts", "contact_id"),
)


def upgrade() -> None:
    _drop_sqlite_triggers()
    for table in ("contacts", "sends"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for owner, name, _, _ in KEYS:
                if owner == table:
                    batch_op.drop_constraint(name, type_="foreignkey")
    _create_sqlite_triggers()


def downgrade() -> None:
    _drop_sqlite_triggers()
    for table in ("contacts", "sends"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for owner, name, parent, column in KEYS:
                if owner == table:
                    batch_op.create_foreign_key(name, parent, [column], ["id"])
    _create_sqlite_triggers()


# PostgreSQL alters the tables in place and keeps its triggers. SQLite's
# copy-and-rename would fail on triggers that name the table being renamed.
def _drop_sqlite_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")


def _create_sqlite_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in sqlite_triggers():
            op.execute(statement)
