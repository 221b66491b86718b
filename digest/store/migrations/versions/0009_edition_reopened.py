"""why a draft is a draft again: edited after approval, or back from approved or cancelled

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN (SQLite 3.35 and later): a batch operation would copy and drop the
    # editions table, and the drop cascades to every edition's sections and items.
    op.add_column("editions", sa.Column("reopened", sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column("editions", "reopened")
