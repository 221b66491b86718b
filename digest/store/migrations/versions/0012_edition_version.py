"""a version on each edition, for editors' saves that name what they were based on

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN (SQLite 3.35 and later): a batch operation would copy and drop the
    # editions table, and the drop cascades to every edition's sections and items.
    op.add_column(
        "editions", sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("1"))
    )


def downgrade() -> None:
    op.drop_column("editions", "version")
