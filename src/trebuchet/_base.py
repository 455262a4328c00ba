"""Everything the sync and async clients share that does no I/O.

``Client`` and ``AsyncClient`` are thin twins over ``BaseClient``: they only send the
requests it builds, sleep between retries and hand the responses back to it. Request
building (URLs, headers, bodies, validation), paging, error mapping and retry decisions
live here; reading the other answers lives in ``_responses``.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import logging
import random
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

import httpx

from ._exceptions import (
    CrossOriginLinkError,
    UnexpectedResponseError,
    is_json_response,
    make_connection_error,
    make_status_error,
)
from ._links import find_next_link, origin
from ._pages import decode_message_page
from ._responses import Message as Message
from ._responses import parse_json
from ._retry import DEFAULT_MAX_RETRIES, RetryPolicy
from ._validation import (
    CALLBACK_HTTP_METHODS,
    DELIVERY_STATES,
    DIRECTIONS,
    RECEIPT_REQUESTED,
    SORT_ORDERS,
    STATES,
    check_callback_timeout,
    check_choice,
    check_e164,
    check_media,
    check_messages_data,
    check_size,
    format_date_time,
    timing_properties,
)
from ._version import __version__

DEFAULT_API_ENDPOINT = "http://127.0.0.1:8080"
DEFAULT_API_VERSION = "v1"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
USER_AGENT = f"trebuchet-python/{__version__}"
IDEMPOTENCY_HEADER = "Idempotency-Key"

DateTimeLike = str | dt.datetime | dt.date
TimeoutTypes = float | httpx.Timeout | None

logger = logging.getLogger("trebuchet")


class _NotGiven(enum.Enum):
    NOT_GIVEN = enum.auto()


NOT_GIVEN = _NotGiven.NOT_GIVEN


@dataclass(frozen=True)
class RequestOptions:
    """One logical API call; every retry of it is built from the same options."""

    method: str
    url: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    has_body: bool = False
    idempotency_key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # A POST that is safe to repeat as it is (cancelling), and whose 409 is its answer.
    repeatable: bool = False

    @property
    def retryable(self) -> bool:
        """GETs are always safe to repeat; a POST only when the server can deduplicate it
        or repeating it changes nothing."""
        return self.method == "GET" or self.idempotency_key is not None or self.repeatable


class BaseClient:
    """Configuration, request building and response handling shared by both clients."""

    def __init__(
        self,
        user_id: str | None,
        api_token: str | None,
        api_secret: str | None,
        api_endpoint: str,
        api_version: str,
        *,
        timeout: TimeoutTypes | _NotGiven,
        max_retries: int | None,
        retry_policy: RetryPolicy | None,
        headers: Mapping[str, str] | None,
        own_client: bool,
    ) -> None:
        if not (user_id and api_token and api_secret):
            missing = [
                name
                for name, value in (
                    ("user_id", user_id),
                    ("api_token", api_token),
                    ("api_secret", api_secret),
                )
                if not value
            ]
            raise ValueError(
                f"Arguments user_id, api_token and api_secret are required (missing: "
                f"{', '.join(missing)}). Use trebuchet.Client('YOUR-USER-ID', "
                f"'YOUR-API-TOKEN', 'YOUR-API-SECRET', api_endpoint='https://sms.example.test')"
            )
        if not api_endpoint or not api_version:
            raise ValueError("api_endpoint and api_version must not be empty")
        self.user_id = user_id
        self.api_endpoint = api_endpoint.rstrip("/")
        self.api_version = api_version.strip("/")
        self.retry_policy = _make_policy(max_retries, retry_policy)
        token = base64.b64encode(f"{api_token}:{api_secret}".encode()).decode("ascii")
        self._authorization = f"Basic {token}"
        self._default_headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        self._default_headers.update(headers or {})
        if isinstance(timeout, _NotGiven):
            # Our own client carries the default; a caller's client keeps its own settings.
            self._timeout: httpx.Timeout | None = DEFAULT_TIMEOUT if own_client else None
        else:
            self._timeout = httpx.Timeout(timeout)
        self._owns_client = own_client

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(user_id={self.user_id!r}, "
            f"api_endpoint={self.api_endpoint!r}, api_version={self.api_version!r})"
        )

    # -- URLs ----------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        """``api_endpoint + "/" + api_version + path`` for a path starting with ``/`` (§9.1.2)."""
        return f"{self.api_endpoint}/{self.api_version}{path}"

    def _messages_path(self) -> str:
        return f"/users/{quote(self.user_id, safe='')}/messages"

    def _resolve_link(self, link: str, current: httpx.URL) -> str:
        """Absolute links are used as they are; ``/{version}/...`` links are joined to the
        host; other ``/...`` links get the endpoint and version prefix like the original
        client; anything else is resolved against the current page's URL. Whatever comes
        out is followed only within the endpoint's origin (``_next_page_options``)."""
        if link.startswith("/"):
            endpoint = httpx.URL(self.api_endpoint)
            prefix = f"{endpoint.path.rstrip('/')}/{self.api_version}/"
            if link.startswith(prefix):
                return str(endpoint.join(link))
            return self._url(link)
        if httpx.URL(link).is_absolute_url:
            return link
        return str(current.join(link))

    # -- building requests ---------------------------------------------------------------

    def _list_messages_options(
        self,
        from_: str | None,
        to: str | None,
        from_date_time: DateTimeLike | None,
        to_date_time: DateTimeLike | None,
        direction: str | None,
        state: str | None,
        delivery_state: str | None,
        sort_order: str | None,
        size: int | str | None,
        extra: Mapping[str, Any],
    ) -> RequestOptions:
        params: dict[str, Any] = dict(extra)
        params["from"] = check_e164("from_", from_, short_code=True)
        params["to"] = check_e164("to", to, short_code=True)
        params["fromDateTime"] = format_date_time("from_date_time", from_date_time)
        params["toDateTime"] = format_date_time("to_date_time", to_date_time)
        params["direction"] = check_choice("direction", direction, DIRECTIONS)
        params["state"] = check_choice("state", state, STATES)
        params["deliveryState"] = check_choice("delivery_state", delivery_state, DELIVERY_STATES)
        params["sortOrder"] = check_choice("sort_order", sort_order, SORT_ORDERS)
        params["size"] = check_size(size)
        query = {key: value for key, value in params.items() if value is not None}
        return RequestOptions("GET", self._url(self._messages_path()), params=query)

    def _send_message_options(
        self,
        from_: str,
        to: str,
        text: str | None,
        media: str | Iterable[str] | None,
        receipt_requested: str | None,
        callback_url: str | None,
        callback_http_method: str | None,
        callback_timeout: int | str | None,
        fallback_url: str | None,
        tag: str | None,
        extra: Mapping[str, Any],
    ) -> RequestOptions:
        if from_ is None or to is None:
            raise ValueError("from_ and to are required")
        media_value = check_media(media)
        receipt = check_choice("receipt_requested", receipt_requested, RECEIPT_REQUESTED)
        if media_value and receipt in ("all", "error"):
            raise ValueError("receipt_requested cannot be combined with media: MMS has no receipts")
        body: dict[str, Any] = dict(extra)
        timing = timing_properties(body)
        body.update(
            {
                "from": check_e164("from_", from_),
                "to": check_e164("to", to, short_code=True),
                "text": text,
                "media": media_value,
                "receiptRequested": receipt,
                "callbackUrl": callback_url,
                "callbackHttpMethod": check_choice(
                    "callback_http_method",
                    callback_http_method,
                    CALLBACK_HTTP_METHODS,
                    ignore_case=True,
                ),
                "callbackTimeout": check_callback_timeout(callback_timeout),
                "fallbackUrl": fallback_url,
                "tag": tag,
                **timing,
            }
        )
        return self._post_options(body)

    def _send_messages_options(self, messages_data: Any) -> tuple[RequestOptions, list[Any]]:
        messages = check_messages_data(messages_data)
        return self._post_options(messages), messages

    def _post_options(self, body: Any) -> RequestOptions:
        return RequestOptions(
            "POST",
            self._url(self._messages_path()),
            json=body,
            has_body=True,
            idempotency_key=str(uuid.uuid4()),
        )

    def _get_message_options(self, id: str) -> RequestOptions:
        return RequestOptions("GET", self._message_url(id))

    def _cancel_message_options(self, id: str) -> RequestOptions:
        # Cancelling a cancelled message answers it again, so a retry is safe; a 409 (sent
        # already) is the answer, not a conflict to wait out.
        return RequestOptions("POST", f"{self._message_url(id)}/cancel", repeatable=True)

    def _message_url(self, id: str) -> str:
        if not isinstance(id, str) or not id:
            raise ValueError(f"id must be a non-empty message id like 'm-...', not {id!r}")
        return self._url(f"{self._messages_path()}/{quote(id, safe='')}")

    def _build_request(
        self, http: httpx.Client | httpx.AsyncClient, options: RequestOptions
    ) -> httpx.Request:
        headers = dict(self._default_headers)
        headers["Authorization"] = self._authorization
        if options.idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = options.idempotency_key
        headers.update(options.headers)
        return http.build_request(
            options.method,
            options.url,
            params=options.params,
            json=options.json if options.has_body else None,
            headers=headers,
            timeout=self._timeout if self._timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )

    # -- retries -------------------------------------------------------------------------

    def _retry_or_raise(
        self,
        options: RequestOptions,
        attempt: int,
        *,
        response: httpx.Response | None = None,
        exc: httpx.TransportError | None = None,
    ) -> float:
        """Seconds to wait before retrying a failed attempt, or raise its error."""
        if response is not None:
            if options.repeatable and response.status_code == 409:
                raise make_status_error(response)
            delay = self.retry_policy.delay(
                attempt,
                status=response.status_code,
                headers=response.headers,
                now=time.time(),
                rand=random.random(),
                idempotent=options.retryable,
            )
            if delay is None:
                raise make_status_error(response)
            reason = f"HTTP {response.status_code}"
        else:
            assert exc is not None
            retryable = options.retryable and not isinstance(exc, httpx.UnsupportedProtocol)
            delay = self.retry_policy.delay(
                attempt, status=None, now=time.time(), rand=random.random(), idempotent=retryable
            )
            if delay is None:
                raise make_connection_error(exc) from exc
            reason = type(exc).__name__
        logger.info(
            "Retrying %s %s in %.2f s (%s; retry %d of %d)",
            options.method,
            options.url,
            delay,
            reason,
            attempt + 1,
            self.retry_policy.max_retries,
        )
        return delay

    # -- reading pages (other answers: _responses.py) ------------------------------------

    def _parse_page(
        self, response: httpx.Response, seen: set[str]
    ) -> tuple[Iterable[Message], str | None]:
        """The page's messages and the next page's URL; ``seen`` collects the pages read."""
        seen.add(str(response.request.url))
        items: Iterable[Message] | None = None
        if is_json_response(response):
            items = decode_message_page(response.content)
        if items is None:
            data = parse_json(response, snake=True)
            if not isinstance(data, list):
                raise UnexpectedResponseError(
                    "Expected a JSON array of messages", response=response
                )
            items = data
        link = find_next_link(response.headers.get("link"))
        try:
            next_url = self._resolve_link(link, response.request.url) if link else None
        except httpx.InvalidURL:
            raise UnexpectedResponseError(
                f"The server's next-page link is not a valid URL: {link}", response=response
            ) from None
        return items, next_url

    def _next_page_options(self, next_url: str, seen: set[str]) -> RequestOptions:
        """The request for the next page, which must lie in ``api_endpoint``'s origin:
        every request carries the credentials, so a link elsewhere is never followed."""
        url = httpx.URL(next_url)
        if url.userinfo or origin(url) != origin(httpx.URL(self.api_endpoint)):
            raise CrossOriginLinkError(next_url, self.api_endpoint)
        if str(url) in seen:
            raise UnexpectedResponseError(
                f"The server's next-page link points back to a page already read: {next_url}"
            )
        return RequestOptions("GET", next_url)


def _make_policy(max_retries: int | None, policy: RetryPolicy | None) -> RetryPolicy:
    if policy is None:
        return RetryPolicy(max_retries=DEFAULT_MAX_RETRIES if max_retries is None else max_retries)
    if max_retries is not None:
        return replace(policy, max_retries=max_retries)
    return policy
