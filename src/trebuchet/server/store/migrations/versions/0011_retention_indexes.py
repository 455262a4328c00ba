"""Indexes that let retention and pruning find old rows without scanning whole tables.

Messages are otherwise indexed per user; retention looks across users by time: the
messages whose text is still kept (a partial index, so scrubbed rows leave it), every
message by time, delivered events by when they finished, receipted carrier references and
user errors by time.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

KEPT_TEXT = sa.text("text <> ''")
DELIVERED = sa.text("state = 'delivered'")
RECEIPTED = sa.text("code IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_messages_time", "messages", ["time_us", "id"])
    op.create_index(
        "ix_messages_text_kept",
        "messages",
        ["time_us"],
        sqlite_where=KEPT_TEXT,
        postgresql_where=KEPT_TEXT,
    )
    op.create_index(
        "ix_events_delivered",
        "events",
        ["finished_us"],
        sqlite_where=DELIVERED,
        postgresql_where=DELIVERED,
    )
    op.create_index(
        "ix_carrier_refs_receipted",
        "carrier_refs",
        ["created_us"],
        sqlite_where=RECEIPTED,
        postgresql_where=RECEIPTED,
    )
    op.create_index("ix_user_errors_time", "user_errors", ["time_us"])


def downgrade() -> None:
    op.drop_index("ix_user_errors_time", "user_errors")
    op.drop_index("ix_carrier_refs_receipted", "carrier_refs")
    op.drop_index("ix_events_delivered", "events")
    op.drop_index("ix_messages_text_kept", "messages")
    op.drop_index("ix_messages_time", "messages")
