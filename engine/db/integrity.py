"""Referential checks for the keys the schema leaves out (migrations 0008 to 0011).

`contacts` and `sends` have no foreign keys to their campaign, cell,
customer and contact: a launch would pay a row-by-row check for each of
its million rows; nor have `orders`, `customer_sources` and `consents` to
their customer, nor the import batch ids of `orders`, `customers` and
`customer_sources` (0009), for the same reason in imports. Nothing in the
engine deletes those parents, and every writer inserts ids it has just read; these anti-joins prove it on a live
database (`campaign db check`), one scan per check. The same holds for
the send, campaign, customer and batch of `events` (0010): a webhook copies
them from the send it has just read and the batch it has just stored,
and for the customer of `responses` (0011): the order import writes it in
the statement that joins the order to its customer.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text

CHECKS: dict[str, str] = {
    "contacts without their campaign": """
        SELECT COUNT(*) FROM contacts AS c
        WHERE NOT EXISTS (SELECT 1 FROM campaigns AS p WHERE p.id = c.campaign_id)""",
    "contacts without a cell of their campaign": """
        SELECT COUNT(*) FROM contacts AS c
        WHERE c.cell_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM cells AS p WHERE p.id = c.cell_id AND p.campaign_id = c.campaign_id)""",
    "contacts without their customer": """
        SELECT COUNT(*) FROM contacts AS c
        WHERE NOT EXISTS (SELECT 1 FROM customers AS p WHERE p.id = c.customer_id)""",
    "sends without their contact": """
        SELECT COUNT(*) FROM sends AS s
        WHERE NOT EXISTS (SELECT 1 FROM contacts AS p WHERE p.id = s.contact_id)""",
    **{
        f"{table} without their customer": f"""
        SELECT COUNT(*) FROM {table} AS t
        WHERE NOT EXISTS (SELECT 1 FROM customers AS p WHERE p.id = t.customer_id)"""
        for table in ("orders", "customer_sources", "consents")
    },
    "responses without their customer": """
        SELECT COUNT(*) FROM responses AS r
        WHERE r.customer_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM customers AS p WHERE p.id = r.customer_id)""",
    **{
        f"{table} without their import batch": f"""
        SELECT COUNT(*) FROM {table} AS t WHERE t.import_batch_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM import_batches AS p WHERE p.id = t.import_batch_id)"""
        for table in ("orders", "customers", "customer_sources")
    },
    "sends whose campaign or customer is not their contact's": """
        SELECT COUNT(*) FROM sends AS s JOIN contacts AS p ON p.id = s.contact_id
        WHERE p.campaign_id <> s.campaign_id OR p.customer_id <> s.customer_id""",
    "events without their send": """
        SELECT COUNT(*) FROM events AS e
        WHERE e.send_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM sends AS p WHERE p.id = e.send_id)""",
    "events whose campaign or customer is not their send's": """
        SELECT COUNT(*) FROM events AS e JOIN sends AS p ON p.id = e.send_id
        WHERE p.campaign_id IS DISTINCT FROM e.campaign_id
           OR p.customer_id IS DISTINCT FROM e.customer_id""",
    "events without their customer": """
        SELECT COUNT(*) FROM events AS e
        WHERE e.send_id IS NULL AND e.customer_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM customers AS p WHERE p.id = e.customer_id)""",
    "events without their webhook batch": """
        SELECT COUNT(*) FROM events AS e
        WHERE e.batch_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM webhook_batches AS p WHERE p.id = e.batch_id)""",
}


@dataclass(frozen=True)
class Finding:
    check: str
    rows: int


def check(engine: Engine) -> list[Finding]:
    """Every check with the number of rows that break it (0: holds)."""
    with engine.connect() as conn:
        return [
            Finding(name, int(conn.execute(text(sql)).scalar_one())) for name, sql in CHECKS.items()
        ]
