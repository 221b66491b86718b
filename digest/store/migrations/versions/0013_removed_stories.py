"""the stories an editor removed from a draft, kept with it until it is sent

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "edition_removed",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "edition_id",
            sa.Integer(),
            sa.ForeignKey("editions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "article_id",
            sa.Integer(),
            sa.ForeignKey("articles.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("also_of", sa.Integer(), nullable=True),
        sa.Column("section_title", sa.Text(), nullable=False),
        sa.Column("section_index", sa.Integer(), nullable=False),
        sa.Column("section_position", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("summary_method", sa.String(32), nullable=False),
        sa.Column("summary_note", sa.Text(), nullable=False),
        sa.Column("show_image", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_index("ix_edition_removed_edition_id", "edition_removed", ["edition_id"])


def downgrade() -> None:
    op.drop_index("ix_edition_removed_edition_id", table_name="edition_removed")
    op.drop_table("edition_removed")
