"""The database refuses a message or event state it does not know.

CHECK constraints on ``messages.state``, ``messages.direction``,
``messages.delivery_state`` (NULL allowed) and ``events.state``, with the values of the
enums in ``domain/states.py`` as they are at this revision.  SQLite cannot add a
constraint to a table, so there the tables are recreated with their rows and indexes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-12
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# name: (table, column, allowed values, NULL allowed)
CHECKS = {
    "ck_messages_state": (
        "messages", "state", ("received", "queued", "sending", "sent", "error"), False,
    ),
    "ck_messages_direction": ("messages", "direction", ("in", "out"), False),
    "ck_messages_delivery_state": (
        "messages", "delivery_state", ("waiting", "delivered", "not-delivered"), True,
    ),
    "ck_events_state": ("events", "state", ("pending", "delivered", "failed"), False),
}  # fmt: skip


def condition(column: str, values: tuple[str, ...], nullable: bool) -> str:
    allowed = ", ".join(f"'{value}'" for value in values)
    check = f"{column} IN ({allowed})"
    return f"{column} IS NULL OR {check}" if nullable else check


def upgrade() -> None:
    for table in ("messages", "events"):
        with op.batch_alter_table(table) as batch:
            for name, (owner, column, values, nullable) in CHECKS.items():
                if owner == table:
                    batch.create_check_constraint(name, condition(column, values, nullable))


def downgrade() -> None:
    for table in ("messages", "events"):
        with op.batch_alter_table(table) as batch:
            for name, (owner, *_) in CHECKS.items():
                if owner == table:
                    batch.drop_constraint(name, type_="check")
