"""accounts: a read rate-limit budget; indexes for the retention sweep

`read_rate_limit_per_minute` is the per-account read budget (NULL: the configured default);
`rate_limit_per_minute` stays the write budget. The indexes let the retention sweep find
expired videos and stale uploads without scanning every job.

Revision ID: 0d74446704db
Revises: 5d1e0a7c3b42
Create Date: 2026-12-07 22:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0d74446704db"
down_revision = "a349321a0b46"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("read_rate_limit_per_minute", sa.Integer(), nullable=True))
    op.create_index("ix_jobs_status_completed", "jobs", ["status", "completed_at"])
    op.create_index("ix_jobs_image_key", "jobs", ["image_key"])
    op.create_index("ix_uploads_created_at", "uploads", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_uploads_created_at", table_name="uploads")
    op.drop_index("ix_jobs_image_key", table_name="jobs")
    op.drop_index("ix_jobs_status_completed", table_name="jobs")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("read_rate_limit_per_minute")
