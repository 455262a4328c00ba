"""Carrier references: which message (and part) each network message id belongs to.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "carrier_refs",
        sa.Column("carrier", sa.String(64), primary_key=True),
        sa.Column("ref", sa.String(128), primary_key=True),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("part", sa.Integer, nullable=False),
        sa.Column("parts", sa.Integer, nullable=False),
        sa.Column("code", sa.Integer),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_carrier_refs_message", "carrier_refs", ["message_id", "part"])
    op.create_index("ix_carrier_refs_created", "carrier_refs", ["created_us"])


def downgrade() -> None:
    op.drop_table("carrier_refs")
