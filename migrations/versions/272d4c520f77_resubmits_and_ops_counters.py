"""jobs.operation_resubmits, and ops_counters for operators

A job whose operation failed on the upstream's side (google.rpc 8, 13, 14) is submitted anew
once; `operation_resubmits` bounds that. `ops_counters` holds running counts /api/health shows,
such as submits whose outcome the upstream never told us.

Revision ID: 272d4c520f77
Revises: 5d1e0a7c3b42
Create Date: 2026-12-07 22:30:00
"""

import sqlalchemy as sa
from alembic import op

import shared.models

revision = "272d4c520f77"
down_revision = "601f4712bd7b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("operation_resubmits", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "ops_counters",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", shared.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("ops_counters")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("operation_resubmits")
