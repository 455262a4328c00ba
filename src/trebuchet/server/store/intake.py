"""Message intake: the body of the group commit, idempotency keys first.

The store's group commit (``store.messages.insert``) hands every batch of accepted
messages to :func:`write_jobs`, in one transaction on a blocking connection
(:meth:`Store.transact`), which notifies ``trebuchet_messages`` (``notifications.py``):
the send workers of every process hear of it once it has committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Connection

from trebuchet.server.domain.times import now_us
from trebuchet.server.store import tables as t
from trebuchet.server.store.bulk import insert_ignoring_conflicts, insert_rows
from trebuchet.server.store.records import InsertJob, StoredResponse

IDEMPOTENCY_WINDOW_US = 24 * 3600 * 1_000_000


def write_jobs(conn: Connection, jobs: Sequence[InsertJob]) -> Sequence[InsertJob]:
    """Insert every job's rows in the caller's transaction, honouring idempotency keys
    (the rows go through :func:`insert_rows`)."""
    rows: list[dict[str, Any]] = []
    for job in jobs:
        if job.idempotency_key is not None and not _claim_key(conn, job):
            continue
        rows.extend(job.rows)
    insert_rows(conn, t.messages, rows)
    return jobs


def _claim_key(conn: Connection, job: InsertJob) -> bool:
    """Record the job's idempotency key, or find the earlier answer under it (a key
    used for another request marks the job in conflict instead)."""
    if job.response is None or job.user_id is None:
        raise ValueError("an idempotent job needs its user and its response")
    now = now_us()
    key = and_(
        t.idempotency_keys.c.user_id == job.user_id,
        t.idempotency_keys.c.key == job.idempotency_key,
    )
    values = {
        "created_us": now,
        "status": job.response.status,
        "location": job.response.location,
        "body": job.response.body,
        "request_hash": job.request_hash,
    }
    inserted = conn.execute(
        insert_ignoring_conflicts(conn.dialect.name, t.idempotency_keys)
        .values(user_id=job.user_id, key=job.idempotency_key, **values)
        .returning(t.idempotency_keys.c.key)
    )
    if inserted.first() is not None:
        return True
    existing = conn.execute(select(t.idempotency_keys).where(key)).mappings().one()
    if existing["created_us"] < now - IDEMPOTENCY_WINDOW_US:
        conn.execute(update(t.idempotency_keys).where(key).values(values))
        return True
    stored_hash = existing["request_hash"]
    if stored_hash is not None and job.request_hash is not None and stored_hash != job.request_hash:
        job.conflict = True
        return False
    job.replayed = StoredResponse(existing["status"], existing["location"], existing["body"])
    return False
