"""The SDK's errors, and the one function that maps an HTTP response to one of them.

Exception tree::

    TrebuchetError                  status_code, message, code; str() is "Error <code>: <message>"
    │                               (also importable as BandwidthMessageAPIException)
    ├── APIStatusError              the server answered with a status >= 400
    │   ├── BadRequestError         400  validation errors (missing-property, ...)
    │   ├── AuthenticationError     401  bad credentials, or no access to a user or number
    │   ├── PermissionDeniedError   403  limits and forbidden operations (multi-message-limit, ...)
    │   ├── NotFoundError           404  unknown message (message-not-found, ...)
    │   ├── ConflictError           409
    │   ├── RateLimitError          429  .retry_after: seconds to wait, when the server said
    │   └── InternalServerError     5xx
    ├── APIConnectionError          no usable response: status_code is None, code "connection-error"
    │   └── APITimeoutError         the request timed out: status_code is None, code "timeout"
    └── UnexpectedResponseError     a 2xx response the SDK cannot use (code "unexpected-response")
        └── CrossOriginLinkError    a next-page link outside api_endpoint's origin; .link names it

Any other status >= 400 raises ``APIStatusError`` itself. Every error keeps the fields the
original ``bandwidth-sdk`` exception had: ``status_code`` (an int, or ``None`` when no
response arrived), ``message`` and ``code`` (the body's ``code``, else ``str(status_code)``).
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from ._retry import server_requested_delay

_PLAIN_MESSAGE_LENGTH = 79  # the original client kept this many characters of a non-JSON body


class TrebuchetError(Exception):
    """Root of every error the SDK raises for a failed API call.

    Example::

        try:
            api.get_message("m-unknown")
        except trebuchet.TrebuchetError as exc:
            print(exc.status_code, exc.code, exc.message)  # 404 message-not-found ...
    """

    def __init__(
        self,
        status_code: int | None,
        message: str,
        code: str | None = None,
        *,
        category: str | None = None,
        details: list[Any] | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(status_code, message)
        self.status_code = status_code
        self.message = message
        self.code = code if code is not None else str(status_code)
        self.category = category
        self.details: list[Any] = details if details is not None else []
        self.response = response

    def __str__(self) -> str:
        return f"Error {self.code}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        state = {k: v for k, v in self.__dict__.items() if k != "response"}
        return (_rebuild, (type(self), state))


def _rebuild(cls: type[TrebuchetError], state: dict[str, Any]) -> TrebuchetError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("status_code"), state.get("message"))
    error.__dict__.update(state)
    error.response = None
    return error


class APIStatusError(TrebuchetError):
    """The server answered with an error status (>= 400)."""

    status_code: int


class BadRequestError(APIStatusError):
    """400: the request was understood but has missing or disallowed values."""


class AuthenticationError(APIStatusError):
    """401: wrong token or secret, or no permission for the user or ``from`` number."""


class PermissionDeniedError(APIStatusError):
    """403: a limit (bulk size, send rate, credit) or a forbidden operation."""


class NotFoundError(APIStatusError):
    """404: the message (or other resource) does not exist or has expired."""


class ConflictError(APIStatusError):
    """409: a concurrent or duplicate operation."""


class RateLimitError(APIStatusError):
    """429: too many requests. ``retry_after`` is the wait in seconds the server asked for.

    It comes from ``Retry-After`` or ``X-RateLimit-Reset`` and is ``None`` when neither
    header was usable.
    """

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class InternalServerError(APIStatusError):
    """5xx: the server failed or is temporarily unavailable."""


class APIConnectionError(TrebuchetError):
    """No usable response arrived (refused connection, reset, protocol error).

    ``status_code`` is ``None`` and ``code`` is ``"connection-error"``.
    """

    def __init__(self, message: str, code: str = "connection-error") -> None:
        super().__init__(None, message, code)


class APITimeoutError(APIConnectionError):
    """The request timed out. ``status_code`` is ``None`` and ``code`` is ``"timeout"``."""

    def __init__(self, message: str = "Request timed out.") -> None:
        super().__init__(message, "timeout")


class UnexpectedResponseError(TrebuchetError):
    """A success status whose body or headers the SDK cannot use (e.g. no ``Location``)."""

    def __init__(self, message: str, *, response: httpx.Response | None = None) -> None:
        status = response.status_code if response is not None else None
        super().__init__(status, message, "unexpected-response", response=response)


class CrossOriginLinkError(UnexpectedResponseError):
    """A next-page ``Link`` points outside the origin (scheme, host, port) of
    ``api_endpoint``, or carries ``user:password@``; it is not followed, so the
    credentials never leave that origin. ``link`` is the URL the server named.

    Example::

        try:
            messages = list(api.list_messages())
        except trebuchet.CrossOriginLinkError as exc:
            print("refused to follow", exc.link)
    """

    def __init__(self, link: str, endpoint: str) -> None:
        super().__init__(
            f"The server's next-page link {link} is outside the origin of api_endpoint "
            f"{endpoint}; it was not followed, so the credentials were not sent to it"
        )
        self.link = link


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def is_json_response(response: httpx.Response) -> bool:
    """The test of bandwidth-sdk >= 3.0.2: ``Content-Type`` starts with ``application/json``."""
    content_type: str = response.headers.get("content-type", "")
    return content_type.strip().lower().startswith("application/json")


def make_status_error(response: httpx.Response, *, now: float | None = None) -> APIStatusError:
    """Build the error for an HTTP error response: the one place status maps to a class.

    A JSON object body supplies ``message``, ``code``, ``category`` and ``details``; any
    other body gives its first 79 characters as the message, like the original client.
    """
    status = response.status_code
    body = _json_object(response)
    text = response.content.decode("utf-8", errors="replace")[:_PLAIN_MESSAGE_LENGTH]
    message, code, category, details = text, None, None, None
    if body is not None:
        if isinstance(body.get("message"), str):
            message = body["message"]
        code = body["code"] if isinstance(body.get("code"), str) else None
        category = body["category"] if isinstance(body.get("category"), str) else None
        details = body["details"] if isinstance(body.get("details"), list) else None

    cls = _STATUS_ERRORS.get(status, InternalServerError if status >= 500 else APIStatusError)
    fields: dict[str, Any] = {"category": category, "details": details, "response": response}
    if cls is RateLimitError:
        clock = time.time() if now is None else now
        fields["retry_after"] = server_requested_delay(status, response.headers, clock)
    return cls(status, message, code, **fields)


def make_connection_error(exc: httpx.TransportError) -> APIConnectionError:
    """Translate an httpx transport failure into the SDK's connection or timeout error."""
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"Request timed out: {exc}" if str(exc) else "Request timed out.")
    return APIConnectionError(f"Connection error: {exc}" if str(exc) else "Connection error.")


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    if not is_json_response(response):
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
