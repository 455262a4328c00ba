"""Opt-outs and smart encoding: the opt-out list, users' and numbers' messaging
settings, and the keyword an inbound message is (or an auto-reply answers).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("keyword", sa.String(8)))
    op.create_table(
        "opt_outs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "ix_opt_outs_entry", "opt_outs", ["user_id", "recipient", "number"], unique=True
    )
    op.create_index("ix_opt_outs_user_created", "opt_outs", ["user_id", "created_us", "id"])
    op.create_table(
        "messaging_settings",
        sa.Column("user_id", sa.String(40), primary_key=True),
        sa.Column("smart_encoding", sa.Boolean, nullable=False),
        sa.Column("opt_out_scope", sa.String(8), nullable=False),
    )
    op.create_table(
        "number_settings",
        sa.Column("user_id", sa.String(40), primary_key=True),
        sa.Column("number", sa.String(32), primary_key=True),
        sa.Column("opt_out_handling", sa.String(16), nullable=False),
        sa.Column("auto_replies", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("number_settings")
    op.drop_table("messaging_settings")
    op.drop_index("ix_opt_outs_user_created", "opt_outs")
    op.drop_index("ix_opt_outs_entry", "opt_outs")
    op.drop_table("opt_outs")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("keyword")
