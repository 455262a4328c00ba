"""Delivering the outbox: the work queue behind the callback worker.

One delivery round tries the primary URL and, if that fails, the fallback; success is
any 2xx within the timeout (open point 21).  A failed round is retried with backoff
until the event's window closes, or gives up at once when every address tried refused
it for good (``callbacks/policy.py``: a 4xx other than 408, 409, 425 and 429, or an
address the outbound policy refuses); then the event is marked failed, with
``callback-expired`` or ``callback-refused`` as its failure code, and a
``callback-failed`` user error is recorded.  Each try is stored as an attempt the user
can list.  An event whose processing crashes is parked (``store/leases.py``).

Claims are fair: callbacks in flight are capped per receiver and per user
(``per_destination``, ``per_user``), so a slow receiver delays only its own events.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from trebuchet.server.callbacks.policy import is_permanent
from trebuchet.server.callbacks.request import build_request, redact
from trebuchet.server.callbacks.sender import CallbackOutcome, WebhookSender
from trebuchet.server.domain.backoff import CallbackRetry
from trebuchet.server.domain.clock import Clock
from trebuchet.server.domain.dead_letters import (
    CALLBACK_EXPIRED,
    CALLBACK_REFUSED,
    PROCESSING_CRASHED,
    parked_event,
)
from trebuchet.server.domain.states import EventState
from trebuchet.server.domain.times import US
from trebuchet.server.hooks import EngineHooks, MetricsHooks
from trebuchet.server.store.delivery import DeliveryStore, Finish
from trebuchet.server.store.leases import LeasedQueue, Leasing

log = logging.getLogger("trebuchet.webhooks")
Row = Mapping[str, Any]
_SECRET_CACHE_LIMIT = 10_000


class EventQueue(LeasedQueue):
    name = "events"
    noun = "event"
    lost_note = "its new owner delivers it"
    log = log

    def parked(
        self, item: Row, now: int, summary: str, crashes: int, code: str = PROCESSING_CRASHED
    ) -> tuple[dict[str, Any], dict[str, object]]:
        return parked_event(item, now, summary, crashes, code)

    def __init__(
        self,
        delivery: DeliveryStore,
        sender: WebhookSender,
        clock: Clock,
        retry: CallbackRetry,
        *,
        lease_us: int,
        signing: bool,
        per_destination: int,
        per_user: int,
        order_hold: int = 3,
        draw: Any = random.random,
        hooks: EngineHooks | None = None,
    ):
        claim = partial(
            delivery.claim_events,
            per_destination=per_destination,
            per_user=per_user,
            order_hold=order_hold,
        )
        leasing = Leasing(
            claim, delivery.extend_event_leases, delivery.finish_event, delivery.next_event_due
        )
        super().__init__(leasing, clock, lease_us)
        self._hooks = hooks or MetricsHooks()
        self._delivery = delivery
        self._sender = sender
        self._retry = retry
        self._signing = signing
        self._draw = draw
        self._secrets: dict[str, str | None] = {}

    async def claimed(self, rows: Sequence[Row]) -> None:
        """Look up the signing secrets of the claimed events' users not yet known."""
        if self._signing:
            missing = [e["user_id"] for e in rows if e["user_id"] not in self._secrets]
            if len(self._secrets) > _SECRET_CACHE_LIMIT:
                self._secrets.clear()
            self._secrets.update(await self._delivery.callback_secrets(missing))

    async def process(self, owner: str, event: Row) -> None:
        secret = self._secrets.get(event["user_id"]) if self._signing else None
        targets = [
            (kind, url)
            for kind, url in (("primary", event["url"]), ("fallback", event["fallback_url"]))
            if url
        ]
        tries: list[dict[str, Any]] = []
        delivered = False
        outcome: CallbackOutcome | None = None
        for kind, url in targets:
            started = self._clock.now_us()
            request = build_request(
                url,
                event["method"],
                event["payload"],
                event_id=event["id"],
                sequence=event["sequence"],
                attempt=event["attempts"],
                secret=secret,
                timestamp=started // US,
            )
            outcome = await self._sender.send(request, event["timeout_ms"] / 1000)
            self._hooks.callback_attempt(outcome.ok)
            tries.append(_attempt(event, kind, url, started, outcome, request.headers))
            if outcome.ok:
                delivered = True
                break
        await self._finish(owner, event, tries, delivered)

    async def _finish(
        self, owner: str, event: Row, tries: list[dict[str, Any]], delivered: bool
    ) -> None:
        now = self._clock.now_us()
        values: dict[str, Any]
        failed = False
        if delivered:
            values = {"state": EventState.DELIVERED, "due_us": None, "finished_us": now}
        else:
            refused = bool(tries) and all(t["permanent"] for t in tries)
            due = (
                None
                if refused
                else self._retry.next_due_us(
                    event["attempts"], now, event["expires_us"], self._draw()
                )
            )
            if due is None:
                failed = True
                values = {
                    "state": EventState.FAILED,
                    "due_us": None,
                    "finished_us": now,
                    "failure_code": CALLBACK_REFUSED if refused else CALLBACK_EXPIRED,
                    "failure": _reason(tries[-1]) if tries else None,
                }
            else:
                values = {"due_us": due}
        errors = [_callback_failed(event, tries, now)] if failed else []
        attempts = [{k: v for k, v in t.items() if k != "permanent"} for t in tries]
        finish = Finish(event["id"], owner, values, attempts=attempts, user_errors=errors)
        await self.finish(finish)


def _callback_failed(event: Row, tries: list[dict[str, Any]], now: int) -> dict[str, Any]:
    """The ``callback-failed`` user error of an event that gave up."""
    last = tries[-1] if tries else None
    details = {
        "eventId": event["id"],
        "messageId": event["message_id"],
        "url": last["url"] if last else "",
        "reason": _reason(last) if last else "",
    }
    return {
        "user_id": event["user_id"],
        "time_us": now,
        "category": "unavailable",
        "code": "callback-failed",
        "message": f"The event {event['id']} for message {event['message_id']} could not be "
        "delivered to its callback URL",
        "details": json.dumps(details),
    }


def _reason(attempt: dict[str, Any]) -> str:
    return str(attempt["error"] or f"HTTP {attempt['status']}")


def _attempt(
    event: Row,
    kind: str,
    url: str,
    started: int,
    outcome: CallbackOutcome,
    headers: Mapping[str, str],
) -> dict[str, Any]:
    # The headers it sent (event, signature, type), kept for the user; the credentials
    # a URL carried (its Authorization) never.
    shown = {name: value for name, value in headers.items() if name.lower() != "authorization"}
    return {
        "event_id": event["id"],
        "round": event["attempts"],
        "target": kind,
        "url": redact(url),
        "time_us": started,
        "duration_us": outcome.duration_us,
        "status": outcome.status,
        "error": outcome.error,
        "permanent": is_permanent(outcome),
        "request_headers": json.dumps(shown),
        "answer": outcome.answer,
    }
