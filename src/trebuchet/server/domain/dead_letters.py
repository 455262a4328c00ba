"""Work that ends: why a callback event stopped, and how crashes are bounded.

A crash is an exception raised by the engine's own code while it processes an item (a
bug, or a row it cannot read: a poison row), as opposed to a carrier's or a receiver's
failure, which the send and callback retry policies handle.  A crashed item is tried
again with backoff; after :attr:`CrashPolicy.max_crashes` crashes it is *parked*: it
leaves the queues, with :data:`PROCESSING_CRASHED` and the exception's summary in the
user's error log (and, for an event, on the event itself).

A crash that takes the whole process with it (the process is killed, or exits, while it
handles a row) raises nothing the engine could catch.  Such a row is known by its claims:
every claim counts one and every finish sets the count back to 0, so a row claimed
:attr:`CrashPolicy.max_crashes` times without ever finishing is parked on its next claim,
with :data:`PROCESSING_ABANDONED`, instead of being handed to another process.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trebuchet.server.domain.backoff import Backoff
from trebuchet.server.domain.states import EventState, MessageState

# Why a failed callback event stopped (``events.failure_code``, shown as ``errorCode``).
CALLBACK_REFUSED = "callback-refused"  # every address refused it for good (4xx, policy)
CALLBACK_EXPIRED = "callback-expired"  # the retry window closed
CALLBACK_CANCELLED = "callback-cancelled"  # cancelled by its user or the operator
PROCESSING_CRASHED = "processing-crashed"  # parked: processing it crashed too often
# Parked: claimed too often without ever finishing (its processes died handling it).
PROCESSING_ABANDONED = "processing-abandoned"

FAILURE_CODES = (
    CALLBACK_REFUSED, CALLBACK_EXPIRED, CALLBACK_CANCELLED, PROCESSING_CRASHED,
    PROCESSING_ABANDONED,
)  # fmt: skip

DEFAULT_MAX_CRASHES = 5
CRASH_BACKOFF = Backoff(initial=2.0, factor=4.0, maximum=600.0)
_MAX_SUMMARY = 300


@dataclass(frozen=True)
class CrashPolicy:
    """Crashed items are retried ``max_crashes - 1`` times with ``backoff``, then parked."""

    backoff: Backoff = CRASH_BACKOFF
    max_crashes: int = DEFAULT_MAX_CRASHES

    def next_due_us(self, crashes: int, now: int, draw: float) -> int | None:
        """When to try an item again after its ``crashes``-th crash; None: park it."""
        if crashes >= self.max_crashes:
            return None
        return now + self.backoff.delay_us(crashes, draw)

    def abandoned(self, claims: int) -> bool:
        """Is a row claimed ``claims`` times since it last finished (this claim
        included) to be parked rather than processed?"""
        return claims > self.max_crashes


def abandoned_summary(claims: int) -> str:
    """What a user is shown for a row parked because it was never finished."""
    return (
        f"claimed {claims - 1} times without finishing: the process handling it stopped each time"
    )


def crash_summary(exc: BaseException) -> str:
    """The exception's type and message on one line, bounded: what a user is shown."""
    text = " ".join(str(exc).split())
    summary = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return summary if len(summary) <= _MAX_SUMMARY else summary[: _MAX_SUMMARY - 1] + "…"


def _parked_error(
    user_id: str, now: int, message: str, details: dict[str, object], code: str
) -> dict[str, object]:
    return {
        "user_id": user_id,
        "time_us": now,
        "category": "backend",
        "code": code,
        "message": message,
        "details": json.dumps(details),
    }


def _what(code: str, crashes: int) -> str:
    if code == PROCESSING_ABANDONED:
        return "was never finished"
    return f"crashed {crashes} times"


def parked_message(
    row: Mapping[str, Any], now: int, summary: str, crashes: int,
    code: str = PROCESSING_CRASHED,
) -> tuple[dict[str, Any], dict[str, object]]:  # fmt: skip
    """A parked message's new columns (``error``, nothing due) and its user error."""
    values = {"state": MessageState.ERROR, "due_us": None}
    error = _parked_error(
        row["user_id"],
        now,
        f"Processing message {row['id']} {_what(code, crashes)}; it was parked: {summary}",
        {"messageId": row["id"], "crashes": crashes, "error": summary},
        code,
    )
    return values, error


def parked_event(
    row: Mapping[str, Any], now: int, summary: str, crashes: int,
    code: str = PROCESSING_CRASHED,
) -> tuple[dict[str, Any], dict[str, object]]:  # fmt: skip
    """A parked event's new columns (failed, with the code and summary) and its user error."""
    values = {
        "state": EventState.FAILED,
        "due_us": None,
        "finished_us": now,
        "failure_code": code,
        "failure": summary,
    }
    error = _parked_error(
        row["user_id"],
        now,
        f"Delivering event {row['id']} for message {row['message_id']} "
        f"{_what(code, crashes)}; it was parked: {summary}",
        {"eventId": row["id"], "messageId": row["message_id"], "crashes": crashes,
         "error": summary},
        code,
    )  # fmt: skip
    return values, error
