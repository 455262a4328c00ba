"""Messages remember the message they are a copy of (the sandbox's loopback copies).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_WHERE_ORIGIN = sa.text("origin_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("origin_id", sa.String(40)))
    op.create_index(
        "ix_messages_origin",
        "messages",
        ["origin_id"],
        sqlite_where=_WHERE_ORIGIN,
        postgresql_where=_WHERE_ORIGIN,
    )


def downgrade() -> None:
    op.drop_index("ix_messages_origin", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("origin_id")
