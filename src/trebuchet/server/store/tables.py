"""The schema as SQLAlchemy Core tables; migrations in ``migrations/versions`` create it.

Times are integer microseconds since the epoch (UTC).  Messages are read by keyset on
``(time_us, id)`` within one user, so every message index starts with ``user_id`` and
ends with ``time_us, id``.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from trebuchet.server.domain.states import DeliveryState, Direction, EventState, MessageState

metadata = MetaData()


def one_of(
    table: str, column: str, values: type[StrEnum], *, nullable: bool = False
) -> CheckConstraint:
    """A CHECK that ``column`` holds one of ``values`` (migration 0008), named
    ``ck_<table>_<column>``."""
    allowed = ", ".join(f"'{value.value}'" for value in values)
    check = f"{column} IN ({allowed})"
    sql = f"{column} IS NULL OR {check}" if nullable else check
    return CheckConstraint(sql, name=f"ck_{table}_{column}")


meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("api_token", String(80), nullable=False, unique=True),
    Column("secret_hash", String(128), nullable=False),
    Column("callback_secret", String(128)),
    Column("created_us", BigInteger, nullable=False),
    # When the operator disabled the user (migration 0015); NULL while active.
    Column("disabled_us", BigInteger),
)

# The operator's inventory of numbers (migration 0004): ``number_state`` is "available"
# (nobody's, ``user_id`` NULL), "enabled" (assigned to ``user_id``) or "released" (kept so
# that it cannot be added again; ``user_id`` is its last holder).
phone_numbers = Table(
    "phone_numbers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("user_id", String(40)),
    Column("number", String(32), nullable=False, unique=True),
    Column("name", Text),
    Column("application_id", String(40)),
    Column("fallback_number", String(32)),
    Column("city", Text),
    Column("state", Text),
    Column("price", String(16)),
    Column("number_state", String(16), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("released_us", BigInteger),
    Index("ix_phone_numbers_user", "user_id", "id"),
    Index("ix_phone_numbers_state", "number_state", "number"),
)

applications = Table(
    "applications",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("user_id", String(40), nullable=False),
    Column("name", Text, nullable=False),
    Column("incoming_call_url", Text),
    Column("incoming_call_url_callback_timeout", Integer),
    Column("incoming_call_fallback_url", Text),
    Column("incoming_message_url", Text),
    Column("incoming_message_url_callback_timeout", Integer),
    Column("incoming_message_fallback_url", Text),
    Column("callback_http_method", String(8)),
    Column("auto_answer", Boolean),
    Column("created_us", BigInteger, nullable=False),
    Index("ix_applications_user", "user_id", "id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("user_id", String(40), nullable=False),
    Column("from_number", String(32), nullable=False),
    Column("to_number", String(32), nullable=False),
    Column("direction", String(3), nullable=False),
    Column("text", Text, nullable=False),
    Column("media", Text),
    Column("state", String(10), nullable=False),
    Column("time_us", BigInteger, nullable=False),
    Column("segment_count", Integer, nullable=False),
    Column("callback_url", Text),
    Column("callback_http_method", String(8)),
    Column("callback_timeout", Integer),
    Column("fallback_url", Text),
    Column("tag", Text),
    Column("receipt_requested", String(8)),
    Column("delivery_state", String(16)),
    Column("delivery_code", Integer),
    Column("delivery_description", Text),
    Column("skip_mms_carrier_validation", Boolean, nullable=False),
    Column("application_id", String(40)),
    # Delivery engine bookkeeping, never shown on the API.
    Column("due_us", BigInteger),
    Column("lease_owner", String(64)),
    Column("lease_until_us", BigInteger),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("carrier_ref", String(128)),
    # The sender slot reserved for this message by a per-number throughput limit.
    Column("slot_us", BigInteger),
    # The message this one is a copy of: an inbound message the sandbox carrier stored
    # for a number of this platform (migration 0006).  Redacting the original scrubs it.
    Column("origin_id", String(40)),
    # The opt-out keyword an inbound message is, or that an outbound auto-reply answers
    # (migration 0009); NULL for every other message.
    Column("keyword", String(8)),
    # Scheduling and expiry (migration 0010): when ``sendAt`` asked the message to go
    # (its ``due_us`` until then) and when it expires unsent.  Shown on the API when set.
    Column("send_at_us", BigInteger),
    Column("expires_us", BigInteger),
    # How often processing this message crashed in the engine (migration 0012).
    Column("crashes", Integer, nullable=False, server_default=text("0")),
    # The carrier that took the message: its route's first, or the one it failed over to
    # (migration 0013).  Shown on the API as ``carrier``.
    Column("carrier", String(64)),
    # Claims since the message last finished (migration 0016): parked past the bound.
    Column("claims", Integer, nullable=False, server_default=text("0")),
    Index("ix_messages_user_time", "user_id", "time_us", "id"),
    Index("ix_messages_user_from", "user_id", "from_number", "time_us", "id"),
    Index("ix_messages_user_to", "user_id", "to_number", "time_us", "id"),
    Index(
        "ix_messages_due",
        "due_us",
        sqlite_where=text("due_us IS NOT NULL"),
        postgresql_where=text("due_us IS NOT NULL"),
    ),
    Index(
        "ix_messages_lease",
        "lease_owner",
        sqlite_where=text("lease_owner IS NOT NULL"),
        postgresql_where=text("lease_owner IS NOT NULL"),
    ),
    Index(
        "ix_messages_origin",
        "origin_id",
        sqlite_where=text("origin_id IS NOT NULL"),
        postgresql_where=text("origin_id IS NOT NULL"),
    ),
    one_of("messages", "state", MessageState),
    one_of("messages", "direction", Direction),
    one_of("messages", "delivery_state", DeliveryState, nullable=True),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("user_id", String(40), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("created_us", BigInteger, nullable=False),
    Column("status", Integer, nullable=False),
    Column("location", Text),
    Column("body", Text),
    # SHA-256 of the request the key first answered (migration 0005); NULL for keys
    # stored before, which replay whatever the body.
    Column("request_hash", String(64)),
    Index("ix_idempotency_created", "created_us"),
)

user_errors = Table(
    "user_errors",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("user_id", String(40), nullable=False),
    Column("time_us", BigInteger, nullable=False),
    Column("category", String(32), nullable=False),
    Column("code", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("details", Text, nullable=False),
    Index("ix_user_errors_user_time", "user_id", "time_us", "id"),
)

# -- delivery engine (migration 0002) ---------------------------------------------------

# The outbox: one row per callback event, written in the transaction that changed the
# message; delivered at least once by the dispatcher.
events = Table(
    "events",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("user_id", String(40), nullable=False),
    Column("message_id", String(40), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("payload", Text, nullable=False),
    Column("url", Text),
    Column("fallback_url", Text),
    Column("method", String(8), nullable=False),
    Column("timeout_ms", Integer, nullable=False),
    Column("state", String(12), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    Column("due_us", BigInteger),
    Column("lease_owner", String(64)),
    Column("lease_until_us", BigInteger),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("finished_us", BigInteger),
    # The receiver's "host:port" (migration 0007): callbacks in flight are capped per value.
    Column("destination", String(300)),
    # Dead letters (migration 0012): crashes while processing the event, and why a failed
    # event stopped (``domain/dead_letters.py`` codes) with the detail.
    Column("crashes", Integer, nullable=False, server_default=text("0")),
    Column("failure_code", String(40)),
    Column("failure", Text),
    # Claims since the event last finished (migration 0016): parked past the bound.
    Column("claims", Integer, nullable=False, server_default=text("0")),
    Index("ix_events_message", "message_id", "sequence", unique=True),
    Index("ix_events_created", "created_us", "id"),
    Index(
        "ix_events_due",
        "due_us",
        sqlite_where=text("due_us IS NOT NULL"),
        postgresql_where=text("due_us IS NOT NULL"),
    ),
    Index(
        "ix_events_lease",
        "lease_owner",
        sqlite_where=text("lease_owner IS NOT NULL"),
        postgresql_where=text("lease_owner IS NOT NULL"),
    ),
    one_of("events", "state", EventState),
)

event_attempts = Table(
    "event_attempts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("event_id", String(40), nullable=False),
    Column("round", Integer, nullable=False),
    Column("target", String(8), nullable=False),
    Column("url", Text, nullable=False),
    Column("time_us", BigInteger, nullable=False),
    Column("duration_us", BigInteger, nullable=False),
    Column("status", Integer),
    Column("error", Text),
    # What the try sent and heard (migration 0014): the event and signature headers as
    # JSON (never an Authorization header), and the start of the receiver's answer.
    Column("request_headers", Text),
    Column("answer", Text),
    Index("ix_event_attempts_event", "event_id", "time_us"),
)

sender_slots = Table(
    "sender_slots",
    metadata,
    Column("number", String(32), primary_key=True),
    Column("next_us", BigInteger, nullable=False),
)

# -- carriers (migration 0003) -----------------------------------------------------------

# The network's id of each message (or part) a carrier sent, so that a receipt arriving
# hours later, after a restart, still finds its message; ``code`` is the part's receipt.
carrier_refs = Table(
    "carrier_refs",
    metadata,
    Column("carrier", String(64), primary_key=True),
    Column("ref", String(128), primary_key=True),
    Column("message_id", String(40), nullable=False),
    Column("part", Integer, nullable=False),
    Column("parts", Integer, nullable=False),
    Column("code", Integer),
    Column("created_us", BigInteger, nullable=False),
    Index("ix_carrier_refs_message", "message_id", "part"),
    Index("ix_carrier_refs_created", "created_us"),
)

# -- messaging controls (migration 0009) -------------------------------------------------

# Who asked not to receive messages from a user: ``recipient`` opted out of sends from
# ``number``, or from every number of the user when ``number`` is "" (ALL_NUMBERS).
opt_outs = Table(
    "opt_outs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("user_id", String(40), nullable=False),
    Column("number", String(32), nullable=False),
    Column("recipient", String(32), nullable=False),
    Column("source", String(16), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Index("ix_opt_outs_entry", "user_id", "recipient", "number", unique=True),
    Index("ix_opt_outs_user_created", "user_id", "created_us", "id"),
)

# A user's messaging settings; a user without a row has the defaults.
messaging_settings = Table(
    "messaging_settings",
    metadata,
    Column("user_id", String(40), primary_key=True),
    Column("smart_encoding", Boolean, nullable=False),
    Column("opt_out_scope", String(8), nullable=False),
)

# One number's opt-out settings; a number without a row has the defaults.
number_settings = Table(
    "number_settings",
    metadata,
    Column("user_id", String(40), primary_key=True),
    Column("number", String(32), primary_key=True),
    Column("opt_out_handling", String(16), nullable=False),
    Column("auto_replies", Boolean, nullable=False),
)
# -- retention (migration 0011) ----------------------------------------------------------

# Retention and pruning look across users by time: messages whose text is still kept,
# every message, delivered events by when they finished, receipted carrier refs, errors.
_KEPT_TEXT = text("text <> ''")
_DELIVERED = text("state = 'delivered'")
_RECEIPTED = text("code IS NOT NULL")
Index("ix_messages_time", messages.c.time_us, messages.c.id)
Index(
    "ix_messages_text_kept",
    messages.c.time_us,
    sqlite_where=_KEPT_TEXT,
    postgresql_where=_KEPT_TEXT,
)
Index(
    "ix_events_delivered",
    events.c.finished_us,
    sqlite_where=_DELIVERED,
    postgresql_where=_DELIVERED,
)
Index(
    "ix_carrier_refs_receipted",
    carrier_refs.c.created_us,
    sqlite_where=_RECEIPTED,
    postgresql_where=_RECEIPTED,
)
Index("ix_user_errors_time", user_errors.c.time_us)
# -- web console (migration 0014) --------------------------------------------------------

# A signed-in browser: the cookie holds a random key, the row its SHA-256, so a leaked
# table signs no one in.  ``user_id`` is NULL while the operator has not yet picked a
# user; ``seen_us`` moves with use, and a row idle past the setting is refused.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(40)),
    Column("operator", Boolean, nullable=False, server_default=text("false")),
    Column("csrf", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("seen_us", BigInteger, nullable=False),
    Index("ix_console_sessions_seen", "seen_us"),
)
