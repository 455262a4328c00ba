"""Delivery engine: the event outbox, callback attempts, sender slots, message slot and lease index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_WHERE_DUE = sa.text("due_us IS NOT NULL")
_WHERE_LEASED = sa.text("lease_owner IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("slot_us", sa.BigInteger))
    op.create_index(
        "ix_messages_lease",
        "messages",
        ["lease_owner"],
        sqlite_where=_WHERE_LEASED,
        postgresql_where=_WHERE_LEASED,
    )
    op.create_table(
        "events",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("fallback_url", sa.Text),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("timeout_ms", sa.Integer, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("expires_us", sa.BigInteger, nullable=False),
        sa.Column("due_us", sa.BigInteger),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_until_us", sa.BigInteger),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("finished_us", sa.BigInteger),
    )
    op.create_index("ix_events_message", "events", ["message_id", "sequence"], unique=True)
    op.create_index(
        "ix_events_due", "events", ["due_us"], sqlite_where=_WHERE_DUE, postgresql_where=_WHERE_DUE
    )
    op.create_index(
        "ix_events_lease",
        "events",
        ["lease_owner"],
        sqlite_where=_WHERE_LEASED,
        postgresql_where=_WHERE_LEASED,
    )
    op.create_table(
        "event_attempts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("target", sa.String(8), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("duration_us", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_event_attempts_event", "event_attempts", ["event_id", "time_us"])
    op.create_table(
        "sender_slots",
        sa.Column("number", sa.String(32), primary_key=True),
        sa.Column("next_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sender_slots")
    op.drop_table("event_attempts")
    op.drop_table("events")
    op.drop_index("ix_messages_lease", "messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("slot_us")
