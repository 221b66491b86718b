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
    with op.batch_alter_table("subscribers") as table:
        table.add_column(sa.Column("topics", sa.Text(), nullable=False, server_default=""))
        table.add_column(sa.Column("frequency", sa.String(32), nullable=False, server_default=""))
    with op.batch_alter_table("editions") as table:
        table.add_column(sa.Column("frequency", sa.String(32), nullable=False, server_default=""))
        table.add_column(sa.Column("subject_tests", sa.JSON(), nullable=True))
        table.add_column(sa.Column("subject_test", sa.JSON(), nullable=True))
    with op.batch_alter_table("deliveries") as table:
        table.add_column(sa.Column("variant", sa.Text(), nullable=False, server_default=""))
        table.add_column(
            sa.Column("subject_index", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("send_batches") as table:
        table.add_column(sa.Column("variant", sa.Text(), nullable=False, server_default=""))
        table.add_column(
            sa.Column("subject_index", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35 and later), as 0012: a batch operation would copy and
    # drop the editions table, and the drop cascades to every edition's sections and items.
    for name, columns in (
        ("send_batches", ["subject_index", "variant"]),
        ("deliveries", ["subject_index", "variant"]),
        ("editions", ["subject_test", "subject_tests", "frequency"]),
        ("subscribers", ["frequency", "topics"]),
    ):
        for column in columns:
            op.drop_column(name, column)
