"""The destination of each callback event, its receiver's ``host:port``.

Callbacks in flight are capped per destination and per user when events are claimed;
events still pending when this runs get their destination from their URLs.

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_events = sa.table(
    "events",
    sa.column("id", sa.String),
    sa.column("url", sa.Text),
    sa.column("fallback_url", sa.Text),
    sa.column("due_us", sa.BigInteger),
    sa.column("destination", sa.String),
)


def destination_key(url: str) -> str:
    """``host:port`` as ``trebuchet.server.callbacks.outbox.destination_key`` wrote it then."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower(), 0)
    except ValueError:
        return parts.netloc.rpartition("@")[2].lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("destination", sa.String(300)))
    conn = op.get_bind()
    pending = conn.execute(
        sa.select(_events.c.id, _events.c.url, _events.c.fallback_url).where(
            _events.c.due_us.is_not(None)
        )
    ).all()
    rows = [
        {"key": row.id, "value": destination_key(row.url or row.fallback_url or "")}
        for row in pending
    ]
    if rows:
        conn.execute(
            _events.update()
            .where(_events.c.id == sa.bindparam("key"))
            .values(destination=sa.bindparam("value")),
            rows,
        )


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("destination")
