"""Follow-ups: send expiry, evaluation watermarks, indexes the follow-up passes scan.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "followup_marks",
        sa.Column("campaign_id", ID, nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("event_id", ID, nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_followup_marks_campaign_id_campaigns")
        ),
        sa.PrimaryKeyConstraint("campaign_id", "step", name=op.f("pk_followup_marks")),
    )
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_sends_step_sent", ["campaign_id", "step", "sent_at"])
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index("ix_contacts_campaign_entered", ["campaign_id", "entered_at"])


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_campaign_entered")
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.drop_index("ix_sends_step_sent")
        batch_op.drop_column("expires_at")
    op.drop_table("followup_marks")
