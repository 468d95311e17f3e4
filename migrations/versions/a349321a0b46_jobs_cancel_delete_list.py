"""jobs: cancelled_at, deleted_at, and the index that lists an account's jobs

`cancelled_at` is stamped when the owner cancels a job (the `cancelled` status); `deleted_at`
when the owner deletes it (its files and prompt are erased, the row stays for the ledger).
GET /api/videos reads an account's jobs newest first: (account_id, created_at) serves it.

Revision ID: a349321a0b46
Revises: 5d1e0a7c3b42
Create Date: 2026-12-07 22:10:00
"""

import sqlalchemy as sa
from alembic import op

import shared.models

revision = "a349321a0b46"
down_revision = "5d1e0a7c3b42"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("cancelled_at", shared.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("deleted_at", shared.models.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_index("ix_jobs_account_created", "jobs", ["account_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_account_created", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("deleted_at")
        batch.drop_column("cancelled_at")
