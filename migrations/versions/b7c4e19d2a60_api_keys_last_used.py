"""api_keys: last_used_at, shown on the dashboard's key list

Stamped when a gateway reads the key from the database (its Redis cache makes that about once
a minute per key in use), so it costs no write per request.

Revision ID: b7c4e19d2a60
Revises: 0d74446704db
Create Date: 2026-12-07 22:50:00
"""

import sqlalchemy as sa
from alembic import op

import shared.models

revision = "b7c4e19d2a60"
down_revision = "272d4c520f77"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("last_used_at", shared.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("last_used_at")
