"""Plain records passed between the API and the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Conflict(Exception):
    """A unique constraint was hit (a number already taken, say)."""


@dataclass(frozen=True)
class User:
    id: str
    api_token: str
    secret_hash: str
    callback_secret: str | None


@dataclass(frozen=True)
class NewUser:
    """A created user with its clear-text secret, shown once."""

    user: User
    api_secret: str
    numbers: list[str]


@dataclass(frozen=True)
class MessageFilter:
    from_number: str | None = None
    to_number: str | None = None
    from_us: int | None = None
    to_us: int | None = None
    direction: str | None = None
    state: str | None = None
    delivery_state: str | None = None


@dataclass(frozen=True)
class StoredResponse:
    """The first answer to an idempotent request, replayed for the same key."""

    status: int
    location: str | None
    body: str | None


@dataclass
class InsertJob:
    """Messages from one request, written atomically, with an optional idempotency key.

    ``request_hash`` identifies the request the key is for.  After the write, ``replayed``
    holds the earlier answer when the key was already used for the same request, and
    ``conflict`` is True when it was used for a different one (nothing is written then).
    """

    rows: list[dict[str, Any]]
    idempotency_key: str | None = None
    user_id: str | None = None
    response: StoredResponse | None = None
    request_hash: str | None = None
    replayed: StoredResponse | None = field(default=None, init=False)
    conflict: bool = field(default=False, init=False)
