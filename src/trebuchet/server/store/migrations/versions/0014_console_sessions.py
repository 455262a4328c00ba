"""Web console sessions: one row per signed-in browser, keyed by the SHA-256 of its cookie;
and, for the console's callback attempts, what each try sent (its event and signature
headers) and the start of the answer it got.

Revision ID: 0014
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(40)),
        sa.Column("operator", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("seen_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_console_sessions_seen", "console_sessions", ["seen_us"])
    with op.batch_alter_table("event_attempts") as batch:
        batch.add_column(sa.Column("request_headers", sa.Text))
        batch.add_column(sa.Column("answer", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("event_attempts") as batch:
        batch.drop_column("answer")
        batch.drop_column("request_headers")
    op.drop_index("ix_console_sessions_seen", table_name="console_sessions")
    op.drop_table("console_sessions")
