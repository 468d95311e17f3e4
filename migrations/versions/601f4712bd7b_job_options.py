"""jobs: generation options, the aspect ratio used, and every sample's video

`options` holds a job's generation options with their defaults resolved (shared/job_options.py);
`aspect_ratio_used` is `auto` as the worker resolved it; `video_keys` lists every sample's file
(`video_key` stays the first).

Revision ID: 601f4712bd7b
Revises: 5d1e0a7c3b42
Create Date: 2026-12-07 22:30:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "601f4712bd7b"
down_revision = "0d74446704db"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("options", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("aspect_ratio_used", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True)
        )
        batch.add_column(sa.Column("video_keys", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("video_keys")
        batch.drop_column("aspect_ratio_used")
        batch.drop_column("options")
