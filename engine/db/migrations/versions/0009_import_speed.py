"""Import speed: no row-by-row foreign-key checks on the keys imports write.

An order import writes ~3 million orders, a customer import a million
customers, their source links and ~2 consents each. PostgreSQL checks each
foreign key with a trigger call per row (SQLite with an index probe per
row); these keys guard ids the same transaction has just joined, drawn or
looked up:

- `orders.customer_id`: the import joins each order to its customer through
  `customer_sources`; the shop callback resolves the customer first.
- `customer_sources.customer_id`, `consents.customer_id`: the customer
  import writes them with the ids it has just drawn or looked up; opt-outs
  with a customer they have just read. The keys cost a 100k customer import
  ~9 µs of PostgreSQL server time per row (of ~37).
- `orders.import_batch_id`, `customers.import_batch_id`,
  `customer_sources.import_batch_id`: bookkeeping, the id of the import run
  that wrote the row, recorded before its first batch.

Nothing in the engine deletes customers or import batches;
`campaign db check` (engine.db.integrity) finds any row that lost its
parent. Responses, suppressions and the campaign tables keep their keys.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

KEYS = (
    ("orders", "fk_orders_customer_id_customers", "customers", "customer_id"),
    ("orders", "fk_orders_import_batch_id_import_batches", "import_batches", "import_batch_id"),
    (
        "customers",
        "fk_customers_import_batch_id_import_batches",
        "import_batches",
        "import_batch_id",
    ),
    (
        "customer_sources",
        "fk_customer_sources_import_batch_id_import_batches",
        "import_batches",
        "import_batch_id",
    ),
    ("customer_sources", "fk_customer_sources_customer_id_customers", "customers", "customer_id"),
    ("consents", "fk_consents_customer_id_customers", "customers", "customer_id"),
)
TABLES = ("orders", "customers", "customer_sources", "consents")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for owner, name, _, _ in KEYS:
                if owner == table:
                    batch_op.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for owner, name, parent, column in KEYS:
                if owner == table:
                    batch_op.create_foreign_key(name, parent, [column], ["id"])
