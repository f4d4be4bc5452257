"""Report tallies: per-contact reach and per-cell counts kept by triggers.

`contacts.reach` holds the bits of what any of a contact's sends did;
`contact_tallies` and `send_tallies` count contacts per (cell, status,
reach) and sends per (step, cell, code) as rows change (engine.db.models.tallies
says why). The triggers are the only writers, so every path that inserts or
updates a send (launch, follow-ups, dispatcher, ledger, reconciliation,
cancel) is counted, in the transaction that changes it.

SQLite: row triggers that add to one row per key. PostgreSQL: statement
triggers over transition tables that append one row per key and statement
(`seq` from `tally_seq`); `engine.db.tallies.compact` folds them.

A later migration that rebuilds `contacts` or `sends` on SQLite (batch
copy-and-rename) drops these triggers and must create them again.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.tally_ddl import (
    SQLITE_TRIGGERS,
    backfill,
    postgresql_triggers,
    sqlite_triggers,
)

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reach", sa.SmallInteger(), server_default="0", nullable=False)
        )
    for table, key in (
        (
            "contact_tallies",
            [sa.Column("status", sa.String(16)), sa.Column("reach", sa.SmallInteger())],
        ),
        ("send_tallies", [sa.Column("step", sa.String(64)), sa.Column("code", sa.SmallInteger())]),
    ):
        op.create_table(
            table,
            sa.Column("campaign_id", ID, nullable=False),
            sa.Column("cell_id", ID, nullable=False),
            *key,
            sa.Column("seq", ID, nullable=False),
            sa.Column("n", ID, nullable=False),
            sa.PrimaryKeyConstraint(
                "campaign_id", "cell_id", key[0].name, key[1].name, "seq", name=f"pk_{table}"
            ),
        )
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in [*backfill(), *(sqlite_triggers() if sqlite else postgresql_triggers())]:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        for name, table in (
            ("tally_sends_updated", "sends"), ("tally_sends_inserted", "sends"),
            ("tally_contacts_updated", "contacts"), ("tally_contacts_inserted", "contacts"),
        ):  # fmt: skip
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        op.execute("DROP SEQUENCE IF EXISTS tally_seq")
    op.drop_table("send_tallies")
    op.drop_table("contact_tallies")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("reach")
