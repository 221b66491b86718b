"""readers' topics and frequency; an edition's frequency and subject lines; each delivery's
variant (the topic set and stories left out it was rendered for) and subject line

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _columns() -> tuple[tuple[str, sa.Column[object]], ...]:
    """(table, column) in the order they are added; dropped in the reverse order. Made anew
    each time: a Column belongs to the one table it is added to."""
    return (
        ("subscribers", sa.Column("topics", sa.Text(), nullable=False, server_default="")),
        ("subscribers", sa.Column("frequency", sa.String(32), nullable=False, server_default="")),
        ("editions", sa.Column("frequency", sa.String(32), nullable=False, server_default="")),
        ("editions", sa.Column("subject_tests", sa.JSON(), nullable=True)),
        ("editions", sa.Column("subject_test", sa.JSON(), nullable=True)),
        ("deliveries", sa.Column("variant", sa.Text(), nullable=False, server_default="")),
        (
            "deliveries",
            sa.Column("subject_index", sa.Integer(), nullable=False, server_default="0"),
        ),
        ("send_batches", sa.Column("variant", sa.Text(), nullable=False, server_default="")),
        (
            "send_batches",
            sa.Column("subject_index", sa.Integer(), nullable=False, server_default="0"),
        ),
    )


def upgrade() -> None:
    # Plain ADD/DROP COLUMN (SQLite 3.35 and later), as 0009 and 0012: a batch operation would
    # copy and drop each table, and on SQLite dropping editions cascades to every edition's
    # sections and items, dropping subscribers clears the ledger's subscriber ids.
    for table, column in _columns():
        op.add_column(table, column)


def downgrade() -> None:
    for table, column in reversed(_columns()):
        op.drop_column(table, column.name)
