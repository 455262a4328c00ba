"""Messaging controls (``/users/{userId}/optOuts`` and ``/messagingSettings``): the
opt-out list, the user's messaging settings and each number's opt-out settings.

``ControlsMixin`` and ``AsyncControlsMixin`` add the same method names to ``Client`` and
``AsyncClient``; request building is shared in ``_ControlRequests``.  Answers come back
snake_cased, like messages, as the typed dicts below.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Generator
from typing import Any, Literal, TypedDict, cast
from urllib.parse import quote

import httpx

from ._base import BaseClient, Message, RequestOptions
from ._responses import parse_message
from ._validation import check_choice, check_e164, check_size

OptOutScope = Literal["number", "user"]
OptOutHandling = Literal["platform", "application"]
OPT_OUT_SCOPES = ("number", "user")
OPT_OUT_HANDLINGS = ("platform", "application")


class OptOut(TypedDict):
    """An entry of the opt-out list: ``recipient`` receives nothing from ``number``, or
    from any of the user's numbers when ``number`` is None."""

    id: str
    recipient: str
    number: str | None
    source: Literal["api", "keyword"]
    created: str


class MessagingSettings(TypedDict):
    smart_encoding: bool
    opt_out_scope: OptOutScope


class NumberSettings(TypedDict):
    number: str
    opt_out_handling: OptOutHandling
    auto_replies: bool


def _check_id(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"id must be a non-empty opt-out id like 'oo-...', not {value!r}")
    return quote(value, safe="")


def _check_bool(name: str, value: bool | None) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{name} must be True, False or None, not {value!r}")
    return value


class _ControlRequests(BaseClient):
    """Building the requests (no I/O)."""

    def _user_path(self, tail: str) -> str:
        return self._url(f"/users/{quote(self.user_id or '', safe='')}{tail}")

    def _list_opt_outs_options(
        self, number: str | None, recipient: str | None, size: int | str | None
    ) -> RequestOptions:
        params = {
            "number": check_e164("number", number),
            "recipient": check_e164("recipient", recipient),
            "size": check_size(size),
        }
        query = {key: value for key, value in params.items() if value is not None}
        return RequestOptions("GET", self._user_path("/optOuts"), params=query)

    def _add_opt_out_options(self, recipient: str, number: str | None) -> RequestOptions:
        if recipient is None:
            raise ValueError("recipient is required")
        body = {
            "recipient": check_e164("recipient", recipient),
            "number": check_e164("number", number),
        }
        # Adding is idempotent on the server (an existing entry is answered as it is),
        # so the request may be retried like a keyed send.
        return RequestOptions(
            "POST", self._user_path("/optOuts"), json=body, has_body=True,
            idempotency_key=str(uuid.uuid4()),
        )  # fmt: skip

    def _opt_out_options(self, method: str, id: str) -> RequestOptions:
        return RequestOptions(method, self._user_path(f"/optOuts/{_check_id(id)}"))

    def _settings_options(self, body: dict[str, Any] | None = None) -> RequestOptions:
        url = self._user_path("/messagingSettings")
        if body is None:
            return RequestOptions("GET", url)
        return RequestOptions("PATCH", url, json=body, has_body=True)

    def _number_settings_options(
        self, number: str, body: dict[str, Any] | None = None
    ) -> RequestOptions:
        checked = check_e164("number", number)
        if checked is None:
            raise ValueError("number is required")
        url = self._user_path(f"/messagingSettings/numbers/{quote(checked, safe='+')}")
        if body is None:
            return RequestOptions("GET", url)
        return RequestOptions("PATCH", url, json=body, has_body=True)

    @staticmethod
    def _user_settings_body(
        smart_encoding: bool | None, opt_out_scope: OptOutScope | None
    ) -> dict[str, Any]:
        return {
            "smartEncoding": _check_bool("smart_encoding", smart_encoding),
            "optOutScope": check_choice("opt_out_scope", opt_out_scope, OPT_OUT_SCOPES),
        }

    @staticmethod
    def _number_settings_body(
        opt_out_handling: OptOutHandling | None, auto_replies: bool | None
    ) -> dict[str, Any]:
        return {
            "optOutHandling": check_choice("opt_out_handling", opt_out_handling, OPT_OUT_HANDLINGS),
            "autoReplies": _check_bool("auto_replies", auto_replies),
        }


class ControlsMixin(_ControlRequests):
    """The messaging-control methods of ``Client``."""

    # Provided by ``Client``.
    def _send(self, options: RequestOptions) -> httpx.Response:
        raise NotImplementedError

    def _iterate(self, options: RequestOptions) -> Generator[Message, None, None]:
        raise NotImplementedError

    def list_opt_outs(
        self, number: str | None = None, recipient: str | None = None, size: int | None = None
    ) -> Generator[OptOut, None, None]:
        """Iterate over the opt-out list, oldest first, following every next page;
        ``number`` and ``recipient`` narrow it.

        Example::

            for entry in api.list_opt_outs(number="+15550001111"):
                print(entry["recipient"], entry["source"])
        """
        options = self._list_opt_outs_options(number, recipient, size)
        return cast(Generator[OptOut, None, None], self._iterate(options))

    def add_opt_out(self, recipient: str, number: str | None = None) -> OptOut:
        """Stop sends to ``recipient`` from ``number`` (None: from all your numbers);
        answers the entry, the existing one if it was there already.

        Example::

            entry = api.add_opt_out("+15557654321", number="+15550001111")
        """
        return cast(OptOut, parse_message(self._send(self._add_opt_out_options(recipient, number))))

    def get_opt_out(self, id: str) -> OptOut:
        """One entry of the opt-out list, by id."""
        return cast(OptOut, parse_message(self._send(self._opt_out_options("GET", id))))

    def remove_opt_out(self, id: str) -> None:
        """Remove an entry: its recipient may receive messages again.

        Example::

            for entry in api.list_opt_outs(recipient="+15557654321"):
                api.remove_opt_out(entry["id"])
        """
        self._send(self._opt_out_options("DELETE", id))

    def get_messaging_settings(self) -> MessagingSettings:
        """Your smart encoding default and opt-out scope."""
        return cast(MessagingSettings, parse_message(self._send(self._settings_options())))

    def update_messaging_settings(
        self, *, smart_encoding: bool | None = None, opt_out_scope: OptOutScope | None = None
    ) -> MessagingSettings:
        """Change the settings given (None: unchanged); answers them all.

        Example::

            api.update_messaging_settings(smart_encoding=True, opt_out_scope="user")
        """
        body = self._user_settings_body(smart_encoding, opt_out_scope)
        return cast(MessagingSettings, parse_message(self._send(self._settings_options(body))))

    def get_number_settings(self, number: str) -> NumberSettings:
        """One of your numbers' opt-out settings."""
        options = self._number_settings_options(number)
        return cast(NumberSettings, parse_message(self._send(options)))

    def update_number_settings(
        self,
        number: str,
        *,
        opt_out_handling: OptOutHandling | None = None,
        auto_replies: bool | None = None,
    ) -> NumberSettings:
        """Change one number's opt-out settings (None: unchanged).

        Example::

            api.update_number_settings("+15550001111", auto_replies=False)
        """
        body = self._number_settings_body(opt_out_handling, auto_replies)
        options = self._number_settings_options(number, body)
        return cast(NumberSettings, parse_message(self._send(options)))


class AsyncControlsMixin(_ControlRequests):
    """The messaging-control methods of ``AsyncClient``: the same, awaited."""

    # Provided by ``AsyncClient``.
    async def _send(self, options: RequestOptions) -> httpx.Response:
        raise NotImplementedError

    def _iterate(self, options: RequestOptions) -> AsyncGenerator[Message, None]:
        raise NotImplementedError

    def list_opt_outs(
        self, number: str | None = None, recipient: str | None = None, size: int | None = None
    ) -> AsyncGenerator[OptOut, None]:
        """Iterate over the opt-out list (see ``Client.list_opt_outs``) with ``async for``."""
        options = self._list_opt_outs_options(number, recipient, size)
        return cast(AsyncGenerator[OptOut, None], self._iterate(options))

    async def add_opt_out(self, recipient: str, number: str | None = None) -> OptOut:
        """See ``Client.add_opt_out``.

        Example::

            entry = await api.add_opt_out("+15557654321")
        """
        response = await self._send(self._add_opt_out_options(recipient, number))
        return cast(OptOut, parse_message(response))

    async def get_opt_out(self, id: str) -> OptOut:
        return cast(OptOut, parse_message(await self._send(self._opt_out_options("GET", id))))

    async def remove_opt_out(self, id: str) -> None:
        await self._send(self._opt_out_options("DELETE", id))

    async def get_messaging_settings(self) -> MessagingSettings:
        response = await self._send(self._settings_options())
        return cast(MessagingSettings, parse_message(response))

    async def update_messaging_settings(
        self, *, smart_encoding: bool | None = None, opt_out_scope: OptOutScope | None = None
    ) -> MessagingSettings:
        body = self._user_settings_body(smart_encoding, opt_out_scope)
        response = await self._send(self._settings_options(body))
        return cast(MessagingSettings, parse_message(response))

    async def get_number_settings(self, number: str) -> NumberSettings:
        response = await self._send(self._number_settings_options(number))
        return cast(NumberSettings, parse_message(response))

    async def update_number_settings(
        self,
        number: str,
        *,
        opt_out_handling: OptOutHandling | None = None,
        auto_replies: bool | None = None,
    ) -> NumberSettings:
        body = self._number_settings_body(opt_out_handling, auto_replies)
        response = await self._send(self._number_settings_options(number, body))
        return cast(NumberSettings, parse_message(response))
