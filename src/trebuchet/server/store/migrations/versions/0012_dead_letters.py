"""Dead letters: crashes counted per message and event, and why an event stopped.

``crashes`` counts how often processing a message or an event raised in the engine's own
code; past a bound the item is parked.  ``failure_code`` and ``failure`` say why a failed
event stopped (refused, expired, cancelled, parked) and, for a crash, the exception's
summary.  ``ix_events_created`` serves the operator's listing of events over a time range.

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column("crashes", sa.Integer, nullable=False, server_default=sa.text("0"))
        )
    with op.batch_alter_table("events") as batch:
        batch.add_column(
            sa.Column("crashes", sa.Integer, nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(sa.Column("failure_code", sa.String(40)))
        batch.add_column(sa.Column("failure", sa.Text))
    op.create_index("ix_events_created", "events", ["created_us", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_created", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("failure")
        batch.drop_column("failure_code")
        batch.drop_column("crashes")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("crashes")
