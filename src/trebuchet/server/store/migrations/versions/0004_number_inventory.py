"""Number inventory: a number may be known to the operator without belonging to a user,
and a released number keeps its row so that it cannot be added again.

``number_state`` is ``available`` (in the inventory, nobody's), ``enabled`` (assigned to
``user_id``) or ``released`` (``user_id`` keeps its last holder).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("phone_numbers") as batch:
        batch.alter_column("user_id", existing_type=sa.String(40), nullable=True)
        batch.add_column(sa.Column("released_us", sa.BigInteger))
    op.create_index("ix_phone_numbers_state", "phone_numbers", ["number_state", "number"])


def downgrade() -> None:
    op.drop_index("ix_phone_numbers_state", "phone_numbers")
    op.execute("DELETE FROM phone_numbers WHERE user_id IS NULL")
    with op.batch_alter_table("phone_numbers") as batch:
        batch.drop_column("released_us")
        batch.alter_column("user_id", existing_type=sa.String(40), nullable=False)
