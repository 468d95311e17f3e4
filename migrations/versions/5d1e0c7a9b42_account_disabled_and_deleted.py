"""accounts: disabled_at and deleted_at

Revision ID: 5d1e0c7a9b42
Revises: 2480ec26bb1d
Create Date: 2026-12-07 20:10:00.000000
"""
from alembic import op
import sqlalchemy as sa
import shared.models


revision = '5d1e0c7a9b42'
down_revision = '2480ec26bb1d'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disabled_at', shared.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('deleted_at', shared.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')
        batch_op.drop_column('disabled_at')
