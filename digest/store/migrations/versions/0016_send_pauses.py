"""the complaint and bounce guard: each pause of a send (why, when, the figures), and its
resume (by whom, when, the event counts then); each edition's readers per event kind, kept up
as events are recorded (filled here from the events already recorded)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "send_pauses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "edition_id",
            sa.Integer(),
            sa.ForeignKey("editions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("out_of", sa.Integer(), nullable=False),
        sa.Column("rate", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resumed_by", sa.String(200), nullable=False, server_default=""),
        sa.Column("resumed_delivered", sa.Integer(), nullable=True),
        sa.Column("resumed_complaints", sa.Integer(), nullable=True),
        sa.Column("resumed_bounces", sa.Integer(), nullable=True),
    )
    op.create_index("ix_send_pauses_edition_id", "send_pauses", ["edition_id"])
    # One open pause per edition: a second pause of the same send is refused by the database.
    op.create_index(
        "uq_send_pauses_open",
        "send_pauses",
        ["edition_id"],
        unique=True,
        sqlite_where=sa.text("resumed_at IS NULL"),
        postgresql_where=sa.text("resumed_at IS NULL"),
    )

    op.create_table(
        "delivery_event_counts",
        sa.Column(
            "edition_id",
            sa.Integer(),
            sa.ForeignKey("editions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.execute(
        "INSERT INTO delivery_event_counts (edition_id, kind, count) "
        "SELECT edition_id, kind, COUNT(*) FROM delivery_events GROUP BY edition_id, kind"
    )


def downgrade() -> None:
    op.drop_table("delivery_event_counts")
    op.drop_index("uq_send_pauses_open", table_name="send_pauses")
    op.drop_index("ix_send_pauses_edition_id", table_name="send_pauses")
    op.drop_table("send_pauses")
