"""The synchronous client."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Mapping
from types import TracebackType
from typing import Any

import httpx

from ._base import (
    DEFAULT_API_ENDPOINT,
    DEFAULT_API_VERSION,
    NOT_GIVEN,
    DateTimeLike,
    Message,
    RequestOptions,
    TimeoutTypes,
    _NotGiven,
)
from ._controls import ControlsMixin
from ._events import EventsMixin
from ._media import MediaMixin
from ._resources import ResourcesMixin
from ._responses import parse_bulk, parse_location, parse_message
from ._retry import RetryPolicy


class Client(MediaMixin, ControlsMixin, EventsMixin, ResourcesMixin):
    """Synchronous client for the Catapult v1 Messages API of a Trebuchet server.

    Holds one connection pool; close it with ``close()`` or use the client as a context
    manager. Options: ``timeout`` (seconds or an ``httpx.Timeout``; default 5 s to
    connect, 30 s otherwise), ``max_retries`` (default 2, 0 turns retries off),
    ``retry_policy`` (a ``RetryPolicy`` for backoff settings), ``http_client`` (an
    ``httpx.Client`` to use instead of creating one; it is not closed by ``close()``),
    ``transport`` (an httpx transport for the client created here), ``headers`` (extra
    headers for every request) and ``sleep`` (the function that waits between retries).

    Example::

        import trebuchet

        with trebuchet.Client("u-abc", "t-token", "secret",
                              api_endpoint="https://sms.example.test") as api:
            message_id = api.send_message(from_="+15550001111", to="+15550002222", text="hi")
    """

    def __init__(
        self,
        user_id: str | None = None,
        api_token: str | None = None,
        api_secret: str | None = None,
        api_endpoint: str = DEFAULT_API_ENDPOINT,
        api_version: str = DEFAULT_API_VERSION,
        *,
        timeout: TimeoutTypes | _NotGiven = NOT_GIVEN,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if http_client is not None and transport is not None:
            raise ValueError("Pass either http_client or transport, not both")
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise TypeError("http_client must be an httpx.Client (use AsyncClient for async)")
        super().__init__(
            user_id,
            api_token,
            api_secret,
            api_endpoint,
            api_version,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            headers=headers,
            own_client=http_client is None,
        )
        self._http = http_client or httpx.Client(timeout=self._timeout, transport=transport)
        self._sleep = sleep or time.sleep

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool (a caller's ``http_client`` is left open).

        Example::

            api = trebuchet.Client("u-abc", "t-token", "secret")
            try:
                ...
            finally:
                api.close()
        """
        if self._owns_client:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- API -----------------------------------------------------------------------------

    def list_messages(
        self,
        from_: str | None = None,
        to: str | None = None,
        from_date_time: DateTimeLike | None = None,
        to_date_time: DateTimeLike | None = None,
        direction: str | None = None,
        state: str | None = None,
        delivery_state: str | None = None,
        sort_order: str | None = None,
        size: int | str | None = None,
        **kwargs: Any,
    ) -> Generator[Message, None, None]:
        """Iterate over the user's messages, following every next page.

        Returns a generator: no request is made until the first item is asked for, and
        later pages are fetched as iteration reaches them. Arguments are validated now
        (``ValueError``); ``None`` arguments are left out of the query, extra keyword
        arguments are added to it as they are. Dates may be ``datetime`` objects or
        strings like ``'2014-05-25 12:00:00'``.

        Example::

            for message in api.list_messages(direction="out", state="error", size=100):
                print(message["id"], message["delivery_description"])
        """
        options = self._list_messages_options(
            from_, to, from_date_time, to_date_time, direction, state,
            delivery_state, sort_order, size, kwargs,
        )  # fmt: skip
        return self._iterate(options)

    def send_message(
        self,
        from_: str,
        to: str,
        text: str | None = None,
        media: str | Iterable[str] | None = None,
        receipt_requested: str | None = None,
        callback_url: str | None = None,
        callback_http_method: str | None = None,
        callback_timeout: int | str | None = None,
        fallback_url: str | None = None,
        tag: str | None = None,
        **kwargs: Any,
    ) -> str:
        """Send one SMS (``text``) or MMS (``media``) and return the new message's id.

        Unset arguments go out as JSON ``null``; extra keyword arguments are added to the
        body as they are. The request carries a fresh ``Idempotency-Key``, so it is safe
        to retry and is retried on connection errors, timeouts, 429 and 5xx.

        Three keyword arguments are Trebuchet extensions, sent only when given:
        ``send_at`` (send then, up to 35 days ahead; the message is ``scheduled`` until
        then) and ``expiration`` (not sent after then), each a timezone-aware
        ``datetime`` or an ISO 8601 string, and ``validity_period`` (seconds or a
        ``timedelta``, instead of ``expiration``).

        Example::

            message_id = api.send_message(
                from_="+15550001111", to="+15550002222", text="Your code is 4417",
                callback_url="https://app.example.test/sms-events", receipt_requested="all",
            )
            later = api.send_message(
                from_="+15550001111", to="+15550002222", text="Reminder: 10:00 tomorrow",
                send_at=datetime(2026, 12, 7, 9, 0, tzinfo=UTC), validity_period=7200,
            )
        """
        options = self._send_message_options(
            from_, to, text, media, receipt_requested, callback_url,
            callback_http_method, callback_timeout, fallback_url, tag, kwargs,
        )  # fmt: skip
        return parse_location(self._send(options))

    def send_messages(self, messages_data: list[dict[str, Any]]) -> list[Message]:
        """Send up to 50 messages in one request; returns one result per message, in order.

        ``messages_data`` is sent as it is (camelCase keys). Each result is a dict with
        ``result`` (``'accepted'`` or ``'error'``), ``location`` or ``error``, plus ``id``
        (the new message's id, ``''`` for errors) and ``message`` (your input dict).

        Example::

            results = api.send_messages([
                {"from": "+15550001111", "to": "+15550002222", "text": "one"},
                {"from": "+15550001111", "to": "+15550003333", "text": "two"},
            ])
            ids = [r["id"] for r in results if r["result"] == "accepted"]
        """
        options, messages = self._send_messages_options(messages_data)
        return parse_bulk(self._send(options), messages)

    def get_message(self, id: str) -> Message:
        """Fetch one message as a dict with snake_case keys.

        Example::

            message = api.get_message("m-dr4mcch2wfb6frcls677glq")
            print(message["state"], message["segment_count"])
        """
        return parse_message(self._send(self._get_message_options(id)))

    def cancel_message(self, id: str) -> Message:
        """Cancel a message not yet handed to a carrier (``queued`` or ``scheduled``); it
        ends ``canceled`` and its callback is sent.  Returns the message.  A message that
        is being sent or was sent raises :class:`ConflictError` (409); cancelling a
        cancelled message returns it again.

        Example::

            message = api.cancel_message("m-dr4mcch2wfb6frcls677glq")
            assert message["state"] == "canceled"
        """
        return parse_message(self._send(self._cancel_message_options(id)))

    # -- I/O -----------------------------------------------------------------------------

    def _iterate(self, options: RequestOptions) -> Generator[Message, None, None]:
        seen: set[str] = set()
        while True:
            items, next_url = self._parse_page(self._send(options), seen)
            yield from items
            if next_url is None:
                return
            options = self._next_page_options(next_url, seen)

    def _send(self, options: RequestOptions) -> httpx.Response:
        attempt = 0
        while True:
            request = self._build_request(self._http, options)
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                delay = self._retry_or_raise(options, attempt, exc=exc)
            else:
                if response.status_code < 400:
                    return response
                delay = self._retry_or_raise(options, attempt, response=response)
            self._sleep(delay)
            attempt += 1
