"""other reports of a story kept with its item ("also reported by")

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("edition_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("also_of", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Other reports become stories of their own? They have no summary: they are dropped.
    op.execute("DELETE FROM edition_items WHERE also_of IS NOT NULL")
    with op.batch_alter_table("edition_items", schema=None) as batch_op:
        batch_op.drop_column("also_of")
