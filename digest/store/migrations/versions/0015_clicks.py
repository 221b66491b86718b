"""click tracking: each click on an email's links (article, time, subject line, what it showed
on arrival, the message's key), and each edition's salt for those keys

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "click_salts",
        sa.Column(
            "edition_id",
            sa.Integer(),
            sa.ForeignKey("editions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("salt", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("forgotten_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_click_salts_created_at", "click_salts", ["created_at"])
    op.create_table(
        "clicks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "edition_id",
            sa.Integer(),
            sa.ForeignKey("editions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False, server_default=""),
        sa.Column("reader_key", sa.String(32), nullable=True),
        sa.Column("subject_index", sa.Integer(), nullable=False, server_default="0"),
        sa.Column(
            "delivery_id",
            sa.Integer(),
            sa.ForeignKey("deliveries.id", ondelete="SET NULL"),
            nullable=True,
        ),
    )
    op.create_index("ix_clicks_edition", "clicks", ["edition_id", "clicked_at"])


def downgrade() -> None:
    op.drop_index("ix_clicks_edition", table_name="clicks")
    op.drop_table("clicks")
    op.drop_index("ix_click_salts_created_at", table_name="click_salts")
    op.drop_table("click_salts")
