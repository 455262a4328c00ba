"""Unfinished claims: how often a message or an event was claimed since it last finished.

A worker's claim adds one to ``claims``; every finish (sent, failed, retried later,
crashed, parked) sets it back to 0.  A row whose count passes the crash bound was taken by
processes that all stopped before finishing it (killed while handling it), and is parked
instead of being handed out again (``domain/dead_letters.py``).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("messages", "events"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("claims", sa.Integer, nullable=False, server_default=sa.text("0"))
            )


def downgrade() -> None:
    for table in ("events", "messages"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("claims")
