"""A message's callback events (``/users/{userId}/messages/{messageId}/events``): list
them with their delivery attempts, send them again, stop the pending ones.

``EventsMixin`` and ``AsyncEventsMixin`` add the same method names to ``Client`` and
``AsyncClient``; URLs and answers are handled by ``_EventRequests``.  Keys are
snake_case, like every answer the SDK returns (``error_code``, ``next_attempt_time``).
"""

from __future__ import annotations

from typing import Any, TypedDict, cast
from urllib.parse import quote

import httpx

from ._base import BaseClient, RequestOptions
from ._exceptions import UnexpectedResponseError
from ._responses import parse_json


class EventAttempt(TypedDict, total=False):
    """One try of one URL: ``status`` when the receiver answered, ``error`` when it failed."""

    time: str
    target: str  # "primary" or "fallback"
    url: str
    duration_ms: float
    status: int
    error: str


class EventRecord(TypedDict, total=False):
    """A callback event as the server keeps it.

    ``state`` is ``pending``, ``delivered`` or ``failed``; a failed event has
    ``error_code`` (``callback-refused``, ``callback-expired``, ``callback-cancelled``,
    ``processing-crashed`` or ``processing-abandoned``) and ``error``.
    """

    id: str
    sequence: int
    event_type: str
    state: str
    created_time: str
    callback_http_method: str
    url: str
    fallback_url: str
    next_attempt_time: str
    finished_time: str
    error_code: str
    error: str
    attempts: list[EventAttempt]
    payload: dict[str, Any]


class _EventRequests(BaseClient):
    """Building event requests and reading their answers (no I/O)."""

    def _events_options(
        self, message_id: str, event_id: str | None = None, action: str | None = None
    ) -> RequestOptions:
        for name, value in (("message_id", message_id), ("event_id", event_id)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"{name} must be a non-empty id, not {value!r}")
        path = f"{self._messages_path()}/{quote(message_id, safe='')}/events"
        if event_id is not None:
            path += f"/{quote(event_id, safe='')}"
        if action is not None:
            path += f"/{action}"
        return RequestOptions("GET" if action is None else "POST", self._url(path))

    @staticmethod
    def _event_list(response: httpx.Response) -> list[EventRecord]:
        data = parse_json(response, snake=True)
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise UnexpectedResponseError("Expected a JSON array of events", response=response)
        return cast(list[EventRecord], data)

    @staticmethod
    def _event(response: httpx.Response) -> EventRecord:
        data = parse_json(response, snake=True)
        if not isinstance(data, dict):
            raise UnexpectedResponseError("Expected a JSON event object", response=response)
        return cast(EventRecord, data)


class EventsMixin(_EventRequests):
    """The event methods of ``Client``."""

    # Provided by ``Client``.
    def _send(self, options: RequestOptions) -> httpx.Response:
        raise NotImplementedError

    def list_message_events(self, message_id: str) -> list[EventRecord]:
        """The message's callback events in sequence order, each with every attempt.

        Example::

            for event in api.list_message_events(message_id):
                print(event["sequence"], event["state"], event.get("error_code"))
        """
        return self._event_list(self._send(self._events_options(message_id)))

    def redeliver_message_events(self, message_id: str) -> list[EventRecord]:
        """Send every event of the message again (pending, due now, a fresh retry
        window); returns them.

        Example::

            for event in api.redeliver_message_events(message_id):
                print(event["id"], event["state"])  # pending
        """
        options = self._events_options(message_id, action="redeliver")
        return self._event_list(self._send(options))

    def redeliver_event(self, message_id: str, event_id: str) -> EventRecord:
        """Send one event again, whatever its state; returns it, now pending.

        Example::

            event = api.redeliver_event(message_id, "ev-...")
        """
        return self._event(self._send(self._events_options(message_id, event_id, "redeliver")))

    def cancel_message_events(self, message_id: str) -> list[EventRecord]:
        """Stop the message's pending events (``failed``, ``callback-cancelled``);
        returns those cancelled, ``[]`` when none was pending.

        Example::

            cancelled = api.cancel_message_events(message_id)
        """
        return self._event_list(self._send(self._events_options(message_id, action="cancel")))

    def cancel_event(self, message_id: str, event_id: str) -> EventRecord:
        """Stop one pending event; ``ConflictError`` (``event-not-pending``) when it has
        already finished.

        Example::

            event = api.cancel_event(message_id, "ev-...")
            print(event["error_code"])  # callback-cancelled
        """
        return self._event(self._send(self._events_options(message_id, event_id, "cancel")))


class AsyncEventsMixin(_EventRequests):
    """The event methods of ``AsyncClient``: the same, awaited."""

    # Provided by ``AsyncClient``.
    async def _send(self, options: RequestOptions) -> httpx.Response:
        raise NotImplementedError

    async def list_message_events(self, message_id: str) -> list[EventRecord]:
        """The message's callback events in sequence order, each with every attempt.

        Example::

            events = await api.list_message_events(message_id)
        """
        return self._event_list(await self._send(self._events_options(message_id)))

    async def redeliver_message_events(self, message_id: str) -> list[EventRecord]:
        """Send every event of the message again; returns them.

        Example::

            events = await api.redeliver_message_events(message_id)
        """
        options = self._events_options(message_id, action="redeliver")
        return self._event_list(await self._send(options))

    async def redeliver_event(self, message_id: str, event_id: str) -> EventRecord:
        """Send one event again; returns it, now pending.

        Example::

            event = await api.redeliver_event(message_id, "ev-...")
        """
        options = self._events_options(message_id, event_id, "redeliver")
        return self._event(await self._send(options))

    async def cancel_message_events(self, message_id: str) -> list[EventRecord]:
        """Stop the message's pending events; returns those cancelled.

        Example::

            cancelled = await api.cancel_message_events(message_id)
        """
        options = self._events_options(message_id, action="cancel")
        return self._event_list(await self._send(options))

    async def cancel_event(self, message_id: str, event_id: str) -> EventRecord:
        """Stop one pending event; ``ConflictError`` when it has already finished.

        Example::

            event = await api.cancel_event(message_id, "ev-...")
        """
        options = self._events_options(message_id, event_id, "cancel")
        return self._event(await self._send(options))
