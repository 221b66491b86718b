"""senders that share the work (PostgreSQL): each worker's row, and the worker that opened a
batch, so that a dead worker's open batch is told from a live one's

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "send_workers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column("send_batches", sa.Column("worker_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("send_batches") as batch:
        batch.drop_column("worker_id")
    op.drop_table("send_workers")
