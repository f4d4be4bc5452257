"""Order import speed: no row-by-row customer check on the responses it writes.

Until a campaign has counted contacts, an order import writes one ``none``
purchase response per new order, in the statement that inserts the order
(engine.db.orders): ~3 million rows for the benchmark's order file. On
PostgreSQL the foreign key `responses.customer_id` cost a trigger call per
row, 25 of the ~160 ms a 5,000-order batch took. The customer id is the
one the same statement has just joined its order to (or, for callbacks,
looked up in the same transaction), as for `orders.customer_id` (0009).
Nothing in the engine deletes customers; `campaign db check`
(engine.db.integrity) finds a response that lost its customer. The keys
to contacts, campaigns and sends stay.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

KEY = "fk_responses_customer_id_customers"


def upgrade() -> None:
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_constraint(KEY, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.create_foreign_key(KEY, "customers", ["customer_id"], ["id"])
