"""A user the operator disabled: ``users.disabled_us``, when (NULL for an active user).

A disabled user's credentials no longer authenticate; nothing of theirs is deleted.

Revision ID: 0015
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("disabled_us", sa.BigInteger))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled_us")
