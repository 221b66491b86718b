"""article images from page and feed metadata, and a per-item switch to leave one out

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("image_url", sa.String(2048), nullable=True))
        batch_op.add_column(sa.Column("image_width", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("image_height", sa.Integer(), nullable=True))
    with op.batch_alter_table("edition_items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("show_image", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35 and later have it): a batch operation would copy and drop
    # the articles table, which edition items' foreign keys refuse while editions exist.
    op.drop_column("edition_items", "show_image")
    for column in ("image_height", "image_width", "image_url"):
        op.drop_column("articles", column)
