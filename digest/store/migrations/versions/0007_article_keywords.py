"""article keywords, apart from the editor's tags

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("keywords", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    # Until now a feed item's tags were only ever its feed's categories: they are keywords.
    # Tags of articles added by hand may be the editor's, so they stay tags.
    op.execute("UPDATE articles SET keywords = tags, tags = '[]' WHERE feed IS NOT NULL")


def downgrade() -> None:
    op.execute("UPDATE articles SET tags = keywords WHERE feed IS NOT NULL")
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_column("keywords")
