"""jobs: admitted_at and next_submit_at, for the dispatcher

A pending job waits as a row until the dispatcher admits it (`admitted_at` is stamped on that
move); one the upstream sent back (a 429 or 5xx) is not admitted again before `next_submit_at`.

Revision ID: 5d1e0a7c3b42
Revises: 5d1e0c7a9b42
Create Date: 2026-12-07 20:05:00
"""

import sqlalchemy as sa
from alembic import op

import shared.models

revision = "5d1e0a7c3b42"
down_revision = "5d1e0c7a9b42"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("admitted_at", shared.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("next_submit_at", shared.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("next_submit_at")
        batch.drop_column("admitted_at")
