"""Scheduling, expiry and cancelling: two message columns and two more message states.

``messages.send_at_us`` (the time ``sendAt`` asked for) and ``messages.expires_us`` (after
it the message is not handed to a carrier), both NULL for a message without them; the
CHECK on ``messages.state`` (migration 0008) also allows ``scheduled`` and ``canceled``.
SQLite cannot change a constraint in place, so there the table is recreated with its rows
and indexes.  The downgrade refuses nothing: a message in a new state goes back as
``error`` (never sent either way) before the old constraint returns.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NAME = "ck_messages_state"
BEFORE = ("received", "queued", "sending", "sent", "error")
AFTER = (*BEFORE, "scheduled", "canceled")
COLUMNS = ("send_at_us", "expires_us")


def condition(values: tuple[str, ...]) -> str:
    allowed = ", ".join(f"'{value}'" for value in values)
    return f"state IN ({allowed})"


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        for column in COLUMNS:
            batch.add_column(sa.Column(column, sa.BigInteger))
        batch.drop_constraint(NAME, type_="check")
        batch.create_check_constraint(NAME, condition(AFTER))


def downgrade() -> None:
    new_states = ", ".join(f"'{state}'" for state in AFTER if state not in BEFORE)
    op.execute(f"UPDATE messages SET state = 'error', due_us = NULL WHERE state IN ({new_states})")
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint(NAME, type_="check")
        batch.create_check_constraint(NAME, condition(BEFORE))
        for column in COLUMNS:
            batch.drop_column(column)
