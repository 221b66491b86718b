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


def upgrade() -> None:
    # Plain ADD/DROP COLUMN (SQLite 3.35 and later), never batch mode: SQLite's table copy
    # would cascade-delete the rows that point at the table.
    op.add_column("subscribers", sa.Column("topics", sa.Text(), nullable=False, server_default=""))
    op.add_column(
        "subscribers", sa.Column("frequency", sa.String(32), nullable=False, server_default="")
    )
    op.add_column(
        "editions", sa.Column("frequency", sa.String(32), nullable=False, server_default="")
    )
    op.add_column("editions", sa.Column("subject_tests", sa.JSON(), nullable=True))
    op.add_column("editions", sa.Column("subject_test", sa.JSON(), nullable=True))
    for table in ("deliveries", "send_batches"):
        op.add_column(table, sa.Column("variant", sa.Text(), nullable=False, server_default=""))
        op.add_column(
            table, sa.Column("subject_index", sa.Integer(), nullable=False, server_default="0")
        )
    # A batch is the next pending deliveries of one variant and subject line.
    op.drop_index("ix_deliveries_queue", table_name="deliveries")
    op.create_index(
        "ix_deliveries_queue",
        "deliveries",
        ["edition_id", "list_id", "status", "variant", "subject_index", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_queue", table_name="deliveries")
    op.create_index("ix_deliveries_queue", "deliveries", ["edition_id", "list_id", "status", "id"])
    for name, columns in (
        ("send_batches", ["subject_index", "variant"]),
        ("deliveries", ["subject_index", "variant"]),
        ("editions", ["subject_test", "subject_tests", "frequency"]),
        ("subscribers", ["frequency", "topics"]),
    ):
        for column in columns:
            op.drop_column(name, column)
