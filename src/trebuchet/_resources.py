"""Phone numbers, applications, user errors, redaction and export.

``ResourcesMixin`` and ``AsyncResourcesMixin`` add the same method names to ``Client``
and ``AsyncClient``; request building is shared in ``_ResourceRequests``.  Answers are
dicts with snake_case keys, like messages; lists follow every next page.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import Any
from urllib.parse import quote

import httpx

from ._base import BaseClient, Message, RequestOptions
from ._exceptions import make_status_error
from ._responses import parse_location, parse_message

EXPORT_FORMATS = ("jsonl", "csv")
EXPORT_FILTERS = {
    "from_": "from", "to": "to", "from_date_time": "fromDateTime",
    "to_date_time": "toDateTime", "direction": "direction", "state": "state",
    "delivery_state": "deliveryState",
}  # fmt: skip


def _id(kind: str, value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{kind} must be a non-empty string, not {value!r}")
    return quote(value, safe="")


class _ResourceRequests(BaseClient):
    """Building the requests (no I/O)."""

    def _user_url(self, path: str) -> str:
        return self._url(f"/users/{quote(self.user_id or '', safe='')}{path}")

    def _get(self, path: str) -> RequestOptions:
        return RequestOptions("GET", self._user_url(path))

    def _redact_options(self, id: str) -> RequestOptions:
        url = self._user_url(f"/messages/{_id('id', id)}")
        return RequestOptions("PATCH", url, json={"text": ""}, has_body=True)

    def _post(self, path: str, body: dict[str, Any]) -> RequestOptions:
        return RequestOptions("POST", self._user_url(path), json=body, has_body=True)

    def _delete(self, path: str) -> RequestOptions:
        return RequestOptions("DELETE", self._user_url(path))

    def _order_number_options(
        self,
        number: str,
        name: str | None,
        application_id: str | None,
        fallback_number: str | None,
    ) -> RequestOptions:
        if not isinstance(number, str) or not number:
            raise ValueError(f"number must be a non-empty E.164 string, not {number!r}")
        optional = {"name": name, "applicationId": application_id,
                    "fallbackNumber": fallback_number}  # fmt: skip
        body = {"number": number, **{k: v for k, v in optional.items() if v is not None}}
        return self._post("/phoneNumbers", body)

    def _create_application_options(self, name: str, fields: dict[str, Any]) -> RequestOptions:
        body = {"name": name, **fields}
        return RequestOptions("POST", self._user_url("/applications"), json=body, has_body=True)

    def _export_request(
        self, http: httpx.Client | httpx.AsyncClient, fmt: str, events: bool, filters: Any
    ) -> httpx.Request:
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}, not {fmt!r}")
        unknown = set(filters) - set(EXPORT_FILTERS)
        if unknown:
            raise TypeError(f"unknown filters: {', '.join(sorted(unknown))}")
        params = {EXPORT_FILTERS[k]: str(v) for k, v in filters.items() if v is not None}
        params.update({"format": fmt, "events": "true" if events else "false"})
        options = RequestOptions("GET", self._user_url("/export/messages"), params=params)
        return self._build_request(http, options)


class ResourcesMixin(_ResourceRequests):
    """The phone number, application, error, redaction and export methods of ``Client``."""

    _http: httpx.Client

    # Provided by ``Client``.
    def _send(self, options: RequestOptions) -> httpx.Response:
        raise NotImplementedError

    def _iterate(self, options: RequestOptions) -> Generator[Message, None, None]:
        raise NotImplementedError

    def list_phone_numbers(self) -> Generator[Message, None, None]:
        """Iterate over the user's numbers.

        Example::

            for number in api.list_phone_numbers():
                print(number["number"], number.get("name"))
        """
        return self._iterate(self._get("/phoneNumbers"))

    def order_phone_number(
        self,
        number: str,
        *,
        name: str | None = None,
        application_id: str | None = None,
        fallback_number: str | None = None,
    ) -> str:
        """Order ``number`` (E.164) for the user; answers the new number's id.

        The number is one the operator assigned to the user, or any free number when
        the server allows self-service (``numbers_self_service``); the order sets the
        given properties.  ``release_phone_number`` gives it up for good.
        Raises ``PermissionDeniedError`` (``number-not-available``, ``number-released``) or
        ``ConflictError`` (``number-already-allocated``).

        Example::

            number_id = api.order_phone_number("+15550003333", name="Support")
        """
        options = self._order_number_options(number, name, application_id, fallback_number)
        return parse_location(self._send(options))

    def get_phone_number(self, number_or_id: str) -> Message:
        """One number, by E.164 number or id."""
        return parse_message(self._send(self._get(f"/phoneNumbers/{_id('number', number_or_id)}")))

    def update_phone_number(self, number_or_id: str, **fields: Any) -> None:
        """Set a number's properties (camelCase ``fields``: ``name``, ``applicationId``,
        ``fallbackNumber``)."""
        self._send(self._post(f"/phoneNumbers/{_id('number', number_or_id)}", fields))

    def release_phone_number(self, number_or_id: str) -> None:
        """Release a number for good: it cannot be ordered again."""
        self._send(self._delete(f"/phoneNumbers/{_id('number', number_or_id)}"))

    def list_applications(self) -> Generator[Message, None, None]:
        """Iterate over the user's applications."""
        return self._iterate(self._get("/applications"))

    def create_application(self, name: str, **fields: Any) -> str:
        """Create an application (camelCase ``fields`` as the API names them); its id.

        Example::

            app_id = api.create_application(
                "Inbound", incomingMessageUrl="https://app.example.test/inbound")
        """
        return parse_location(self._send(self._create_application_options(name, fields)))

    def get_application(self, id: str) -> Message:
        return parse_message(self._send(self._get(f"/applications/{_id('id', id)}")))

    def update_application(self, id: str, **fields: Any) -> None:
        """Change an application's properties (camelCase ``fields``)."""
        self._send(self._post(f"/applications/{_id('id', id)}", fields))

    def delete_application(self, id: str) -> None:
        self._send(self._delete(f"/applications/{_id('id', id)}"))

    def get_error(self, id: str) -> Message:
        """One entry of the user error log."""
        return parse_message(self._send(self._get(f"/errors/{_id('id', id)}")))

    def list_errors(self) -> Generator[Message, None, None]:
        """Iterate over the user error log, newest first."""
        return self._iterate(self._get("/errors"))

    def redact_message(self, id: str) -> None:
        """Empty a message's text everywhere the server keeps it."""
        self._send(self._redact_options(id))

    def export_messages(
        self, format: str = "jsonl", events: bool = False, **filters: Any
    ) -> Generator[bytes, None, None]:
        """The whole export, streamed in chunks (JSON Lines or CSV), with the list's
        filters (``from_``, ``to``, ``from_date_time``, ...).

        Example::

            with open("messages.jsonl", "wb") as out:
                for chunk in api.export_messages(direction="out"):
                    out.write(chunk)
        """
        request = self._export_request(self._http, format, events, filters)
        return self._stream_export(request)

    def _stream_export(self, request: httpx.Request) -> Generator[bytes, None, None]:
        response = self._http.send(request, stream=True)
        try:
            if response.status_code >= 400:
                response.read()
                raise make_status_error(response)
            yield from response.iter_bytes()
        finally:
            response.close()


class AsyncResourcesMixin(_ResourceRequests):
    """The same methods for ``AsyncClient``."""

    _http: httpx.AsyncClient

    # Provided by ``AsyncClient``.
    async def _send(self, options: RequestOptions) -> httpx.Response:
        raise NotImplementedError

    def _iterate(self, options: RequestOptions) -> AsyncGenerator[Message, None]:
        raise NotImplementedError

    def list_phone_numbers(self) -> AsyncGenerator[Message, None]:
        return self._iterate(self._get("/phoneNumbers"))

    async def order_phone_number(
        self,
        number: str,
        *,
        name: str | None = None,
        application_id: str | None = None,
        fallback_number: str | None = None,
    ) -> str:
        """Order ``number`` (E.164) for the user; answers the new number's id."""
        options = self._order_number_options(number, name, application_id, fallback_number)
        return parse_location(await self._send(options))

    async def get_phone_number(self, number_or_id: str) -> Message:
        path = f"/phoneNumbers/{_id('number', number_or_id)}"
        return parse_message(await self._send(self._get(path)))

    async def update_phone_number(self, number_or_id: str, **fields: Any) -> None:
        await self._send(self._post(f"/phoneNumbers/{_id('number', number_or_id)}", fields))

    async def release_phone_number(self, number_or_id: str) -> None:
        await self._send(self._delete(f"/phoneNumbers/{_id('number', number_or_id)}"))

    def list_applications(self) -> AsyncGenerator[Message, None]:
        return self._iterate(self._get("/applications"))

    async def create_application(self, name: str, **fields: Any) -> str:
        return parse_location(await self._send(self._create_application_options(name, fields)))

    async def get_application(self, id: str) -> Message:
        return parse_message(await self._send(self._get(f"/applications/{_id('id', id)}")))

    async def update_application(self, id: str, **fields: Any) -> None:
        await self._send(self._post(f"/applications/{_id('id', id)}", fields))

    async def delete_application(self, id: str) -> None:
        await self._send(self._delete(f"/applications/{_id('id', id)}"))

    async def get_error(self, id: str) -> Message:
        return parse_message(await self._send(self._get(f"/errors/{_id('id', id)}")))

    def list_errors(self) -> AsyncGenerator[Message, None]:
        return self._iterate(self._get("/errors"))

    async def redact_message(self, id: str) -> None:
        await self._send(self._redact_options(id))

    def export_messages(
        self, format: str = "jsonl", events: bool = False, **filters: Any
    ) -> AsyncGenerator[bytes, None]:
        request = self._export_request(self._http, format, events, filters)
        return self._stream_export(request)

    async def _stream_export(self, request: httpx.Request) -> AsyncGenerator[bytes, None]:
        response = await self._http.send(request, stream=True)
        try:
            if response.status_code >= 400:
                await response.aread()
                raise make_status_error(response)
            async for chunk in response.aiter_bytes():
                yield chunk
        finally:
            await response.aclose()
