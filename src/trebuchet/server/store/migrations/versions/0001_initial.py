"""Initial schema: users, numbers, applications, messages, idempotency keys, user errors.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_WHERE_DUE = sa.text("due_us IS NOT NULL")


# One long function on purpose: a migration is a frozen record of the first schema.
def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("api_token", sa.String(80), nullable=False, unique=True),
        sa.Column("secret_hash", sa.String(128), nullable=False),
        sa.Column("callback_secret", sa.String(128)),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "phone_numbers",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("number", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.Text),
        sa.Column("application_id", sa.String(40)),
        sa.Column("fallback_number", sa.String(32)),
        sa.Column("city", sa.Text),
        sa.Column("state", sa.Text),
        sa.Column("price", sa.String(16)),
        sa.Column("number_state", sa.String(16), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_phone_numbers_user", "phone_numbers", ["user_id", "id"])
    op.create_table(
        "applications",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("incoming_call_url", sa.Text),
        sa.Column("incoming_call_url_callback_timeout", sa.Integer),
        sa.Column("incoming_call_fallback_url", sa.Text),
        sa.Column("incoming_message_url", sa.Text),
        sa.Column("incoming_message_url_callback_timeout", sa.Integer),
        sa.Column("incoming_message_fallback_url", sa.Text),
        sa.Column("callback_http_method", sa.String(8)),
        sa.Column("auto_answer", sa.Boolean),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_applications_user", "applications", ["user_id", "id"])
    op.create_table(
        "messages",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("from_number", sa.String(32), nullable=False),
        sa.Column("to_number", sa.String(32), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("media", sa.Text),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("segment_count", sa.Integer, nullable=False),
        sa.Column("callback_url", sa.Text),
        sa.Column("callback_http_method", sa.String(8)),
        sa.Column("callback_timeout", sa.Integer),
        sa.Column("fallback_url", sa.Text),
        sa.Column("tag", sa.Text),
        sa.Column("receipt_requested", sa.String(8)),
        sa.Column("delivery_state", sa.String(16)),
        sa.Column("delivery_code", sa.Integer),
        sa.Column("delivery_description", sa.Text),
        sa.Column("skip_mms_carrier_validation", sa.Boolean, nullable=False),
        sa.Column("application_id", sa.String(40)),
        sa.Column("due_us", sa.BigInteger),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_until_us", sa.BigInteger),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("carrier_ref", sa.String(128)),
    )
    op.create_index("ix_messages_user_time", "messages", ["user_id", "time_us", "id"])
    op.create_index(
        "ix_messages_user_from", "messages", ["user_id", "from_number", "time_us", "id"]
    )
    op.create_index("ix_messages_user_to", "messages", ["user_id", "to_number", "time_us", "id"])
    op.create_index(
        "ix_messages_due",
        "messages",
        ["due_us"],
        sqlite_where=_WHERE_DUE,
        postgresql_where=_WHERE_DUE,
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.String(40), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("location", sa.Text),
        sa.Column("body", sa.Text),
    )
    op.create_index("ix_idempotency_created", "idempotency_keys", ["created_us"])
    op.create_table(
        "user_errors",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
    )
    op.create_index("ix_user_errors_user_time", "user_errors", ["user_id", "time_us", "id"])


def downgrade() -> None:
    for table in (
        "user_errors",
        "idempotency_keys",
        "messages",
        "applications",
        "phone_numbers",
        "users",
        "meta",
    ):
        op.drop_table(table)
