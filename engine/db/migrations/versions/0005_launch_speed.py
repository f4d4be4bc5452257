"""Launch speed: no customer-first contacts index, no redundant foreign keys on sends.

A launch writes a million contacts and half a million sends in one
transaction. `ix_contacts_customer` was maintained on every contact and read
by no query (every contacts read is by campaign: the unique key serves it);
`sends.campaign_id` and `sends.customer_id` copy the contact's, whose foreign
keys already hold, and their own checks cost a row lookup per send (on
PostgreSQL a trigger call and a row lock each).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_customer")

    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.drop_constraint("fk_sends_campaign_id_campaigns", type_="foreignkey")
        batch_op.drop_constraint("fk_sends_customer_id_customers", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_sends_customer_id_customers", "customers", ["customer_id"], ["id"]
        )
        batch_op.create_foreign_key(
            "fk_sends_campaign_id_campaigns", "campaigns", ["campaign_id"], ["id"]
        )

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index("ix_contacts_customer", ["customer_id", "entered_at"], unique=False)
