"""The asynchronous client: the same methods as ``Client``, awaited."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
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
from ._controls import AsyncControlsMixin
from ._events import AsyncEventsMixin
from ._media import AsyncMediaMixin
from ._resources import AsyncResourcesMixin
from ._responses import parse_bulk, parse_location, parse_message
from ._retry import RetryPolicy


async def _default_sleep(seconds: float) -> None:
    import anyio  # an httpx dependency; works under asyncio and trio

    await anyio.sleep(seconds)


class AsyncClient(AsyncMediaMixin, AsyncControlsMixin, AsyncEventsMixin, AsyncResourcesMixin):
    """Asynchronous twin of ``Client``: same arguments, same methods, awaited.

    ``list_messages()`` returns an async generator; the other methods are coroutines.
    ``http_client`` must be an ``httpx.AsyncClient`` and ``sleep`` an async function.
    Close with ``await api.aclose()`` or use ``async with``.

    Example::

        async with trebuchet.AsyncClient("u-abc", "t-token", "secret",
                                         api_endpoint="https://sms.example.test") as api:
            message_id = await api.send_message(from_="+15550001111", to="+15550002222",
                                                text="hi")
            async for message in api.list_messages(direction="out"):
                print(message["id"])
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
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        if http_client is not None and transport is not None:
            raise ValueError("Pass either http_client or transport, not both")
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise TypeError("http_client must be an httpx.AsyncClient (use Client for sync)")
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
        self._http = http_client or httpx.AsyncClient(timeout=self._timeout, transport=transport)
        self._sleep = sleep or _default_sleep

    # -- lifecycle -----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection pool (a caller's ``http_client`` is left open).

        Example::

            api = trebuchet.AsyncClient("u-abc", "t-token", "secret")
            try:
                ...
            finally:
                await api.aclose()
        """
        if self._owns_client:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

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
    ) -> AsyncGenerator[Message, None]:
        """Iterate over the user's messages with ``async for``, following every next page.

        Not a coroutine: it validates its arguments at once and returns an async
        generator that makes its first request when iteration starts.

        Example::

            async for message in api.list_messages(state="error"):
                print(message["id"])
        """
        options = self._list_messages_options(
            from_, to, from_date_time, to_date_time, direction, state,
            delivery_state, sort_order, size, kwargs,
        )  # fmt: skip
        return self._iterate(options)

    async def send_message(
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
        """Send one SMS or MMS and return the new message's id (see ``Client.send_message``).

        Example::

            message_id = await api.send_message(from_="+15550001111", to="+15550002222",
                                                text="hello")
        """
        options = self._send_message_options(
            from_, to, text, media, receipt_requested, callback_url,
            callback_http_method, callback_timeout, fallback_url, tag, kwargs,
        )  # fmt: skip
        return parse_location(await self._send(options))

    async def send_messages(self, messages_data: list[dict[str, Any]]) -> list[Message]:
        """Send up to 50 messages in one request (see ``Client.send_messages``).

        Example::

            results = await api.send_messages([
                {"from": "+15550001111", "to": "+15550002222", "text": "one"},
            ])
        """
        options, messages = self._send_messages_options(messages_data)
        return parse_bulk(await self._send(options), messages)

    async def get_message(self, id: str) -> Message:
        """Fetch one message as a dict with snake_case keys.

        Example::

            message = await api.get_message("m-dr4mcch2wfb6frcls677glq")
        """
        return parse_message(await self._send(self._get_message_options(id)))

    async def cancel_message(self, id: str) -> Message:
        """Cancel a message not yet handed to a carrier (``queued`` or ``scheduled``); it
        ends ``canceled`` and its callback is sent.  Returns the message.  A message that
        is being sent or was sent raises :class:`ConflictError` (409); cancelling a
        cancelled message returns it again.

        Example::

            message = await api.cancel_message("m-dr4mcch2wfb6frcls677glq")
            assert message["state"] == "canceled"
        """
        return parse_message(await self._send(self._cancel_message_options(id)))

    # -- I/O -----------------------------------------------------------------------------

    async def _iterate(self, options: RequestOptions) -> AsyncGenerator[Message, None]:
        seen: set[str] = set()
        while True:
            items, next_url = self._parse_page(await self._send(options), seen)
            for item in items:
                yield item
            if next_url is None:
                return
            options = self._next_page_options(next_url, seen)

    async def _send(self, options: RequestOptions) -> httpx.Response:
        attempt = 0
        while True:
            request = self._build_request(self._http, options)
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                delay = self._retry_or_raise(options, attempt, exc=exc)
            else:
                if response.status_code < 400:
                    return response
                delay = self._retry_or_raise(options, attempt, response=response)
            await self._sleep(delay)
            attempt += 1
