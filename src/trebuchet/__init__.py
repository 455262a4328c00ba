"""Trebuchet: Python SDK for a self-hosted Catapult v1 SMS/MMS messaging server.

Example::

    import trebuchet

    with trebuchet.Client("u-abc", "t-token", "secret",
                          api_endpoint="https://sms.example.test") as api:
        message_id = api.send_message(from_="+15550001111", to="+15550002222", text="hi")
        for message in api.list_messages(state="error"):
            print(message["id"])

The client behaves like ``bandwidth.messaging.Client`` from ``bandwidth-sdk`` 3.x, so
code written for it keeps working with ``trebuchet.client("messaging", ...)``.
"""

from typing import Any

from ._async_client import AsyncClient
from ._client import Client
from ._controls import MessagingSettings, NumberSettings, OptOut
from ._events import EventAttempt, EventRecord
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    CrossOriginLinkError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    TrebuchetError,
    UnexpectedResponseError,
)
from ._retry import RetryPolicy
from ._version import __version__
from ._webhooks import (
    MessageEvent,
    WebhookVerificationError,
    parse_event,
    parse_event_query,
    sign_payload,
    verify_signature,
)

BandwidthMessageAPIException = TrebuchetError
"""The name ``bandwidth-sdk`` code catches; the same class as ``TrebuchetError``."""


def client(
    client_name: str,
    user_id: str | None = None,
    api_token: str | None = None,
    api_secret: str | None = None,
    **options: Any,
) -> Client:
    """Build a client by name, like ``bandwidth.client()``; only ``"messaging"`` exists.

    Example::

        api = trebuchet.client("messaging", "u-abc", "t-token", "secret",
                               api_endpoint="https://sms.example.test")
    """
    if client_name != "messaging":
        raise ValueError(
            f"Unknown client {client_name!r}: Trebuchet provides only the 'messaging' client"
        )
    return Client(user_id, api_token, api_secret, **options)


__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "BandwidthMessageAPIException",
    "Client",
    "ConflictError",
    "CrossOriginLinkError",
    "EventAttempt",
    "EventRecord",
    "InternalServerError",
    "MessageEvent",
    "MessagingSettings",
    "NotFoundError",
    "NumberSettings",
    "OptOut",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "TrebuchetError",
    "UnexpectedResponseError",
    "WebhookVerificationError",
    "__version__",
    "client",
    "parse_event",
    "parse_event_query",
    "sign_payload",
    "verify_signature",
]
