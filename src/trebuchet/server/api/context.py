"""Per-app services and per-request context, and the authentication in front of every route.

Credentials are HTTP Basic ``token:secret``.  A verified token is cached for
``cache_seconds`` (the secret is still compared, in constant time, on every request), so
authentication costs no database round trip on the hot path.  The exact ``Authorization``
header that passed is remembered for as long, so a client repeating it is not decoded
and hashed again; any other header (a different secret) is verified in full.
Failed-authentication
throttling and per-user rate limits (``throttle.py``) run here too, each a single
attribute check when switched off.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from trebuchet.server.api.observe import USER_SCOPE_KEY
from trebuchet.server.api.pagination import CursorCodec
from trebuchet.server.api.scope import header
from trebuchet.server.api.throttle import Guard
from trebuchet.server.config import Settings
from trebuchet.server.domain import errors
from trebuchet.server.store import Store, User
from trebuchet.server.store.store import secret_matches
from trebuchet.server.webhooks.guard import AddressPolicy

_CACHE_LIMIT = 100_000


@dataclass
class TtlCache:
    """A small time-bounded memo of positive answers (never of misses)."""

    ttl: float
    _items: dict[object, tuple[float, object]] = field(default_factory=dict)

    def get(self, key: object) -> object | None:
        hit = self._items.get(key)
        if hit is None:
            return None
        expires, value = hit
        if expires < time.monotonic():
            del self._items[key]
            return None
        return value

    def put(self, key: object, value: object) -> None:
        if len(self._items) >= _CACHE_LIMIT:
            self._items.clear()
        self._items[key] = (time.monotonic() + self.ttl, value)

    def discard(self, key: object) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()


@dataclass
class Services:
    settings: Settings
    store: Store
    cursors: CursorCodec
    users: TtlCache
    ownership: TtlCache
    guard: Guard = field(default_factory=Guard)
    verified: TtlCache = field(default_factory=lambda: TtlCache(0))
    # Which callback URLs a send or an application may name (docs/callbacks.md).
    outbound: AddressPolicy = field(default_factory=AddressPolicy)

    @classmethod
    def create(
        cls, settings: Settings, store: Store, cursor_secret: str, guard: Guard | None = None
    ) -> Services:
        return cls(
            settings=settings,
            store=store,
            cursors=CursorCodec(cursor_secret),
            users=TtlCache(settings.cache_seconds),
            ownership=TtlCache(settings.cache_seconds),
            guard=guard or Guard(),
            verified=TtlCache(settings.cache_seconds),
            outbound=AddressPolicy.from_settings(settings),
        )

    async def owns_number(self, user_id: str, number: str) -> bool:
        key = (user_id, number)
        if self.ownership.get(key):
            return True
        owned = await self.store.owns_number(user_id, number)
        if owned:
            self.ownership.put(key, True)
        return owned


@dataclass
class Ctx:
    request: Request
    services: Services
    user: User
    base_url: str

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def user_url(self, path: str) -> str:
        return f"{self.base_url}/v1/users/{self.user.id}{path}"


def _credentials(header_value: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (header_value or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except ValueError:  # binascii.Error, UnicodeDecodeError, or non-ASCII input
        return None
    token, sep, secret = decoded.partition(":")
    return (token, secret) if sep else None


async def _verify(request: Request, services: Services, authorization: str | None) -> User:
    guard = services.guard
    credentials = _credentials(authorization)
    if guard.failures is not None:
        await guard.check(request, credentials[0] if credentials else None)
    if credentials is None:
        raise await guard.failed(request, None)
    token, secret = credentials
    user = services.users.get(token)
    if not isinstance(user, User):
        user = await services.store.user_by_token(token)
        if user is None:
            raise await guard.failed(request, None)
        services.users.put(token, user)
    if not secret_matches(secret, user.secret_hash):
        raise await guard.failed(request, token)
    return user


async def authenticate(request: Request) -> Ctx:
    scope = request.scope
    services: Services = scope["app"].state.services
    guard = services.guard
    authorization = header(scope, b"authorization")
    user = services.verified.get(authorization) if authorization else None
    if not isinstance(user, User):
        user = await _verify(request, services, authorization)
        services.verified.put(authorization, user)
    elif guard.failures is not None:  # a blocked client stays blocked, however it signs
        await guard.check(request, user.api_token)
    scope[USER_SCOPE_KEY] = user.id
    if guard.rate is not None:
        await guard.admit(user.id)
    path_user = scope["path_params"]["user_id"]
    if path_user != user.id:
        raise errors.user_access_denied(user.id, path_user)
    root = (services.settings.public_url or "").rstrip("/") or _request_root(scope)
    return Ctx(request, services, user, root)


def _request_root(scope: Scope) -> str:
    """``scheme://host[:port]`` as the client addressed us (cheaper than ``request.url``)."""
    host = header(scope, b"host")
    if host is None:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


Endpoint = Callable[[Ctx], Awaitable[Response]]


def user_route(path: str, endpoint: Endpoint, methods: list[str]) -> Route:
    """A route under ``/v1/users/{user_id}`` that only its own user may call."""

    async def handle(request: Request) -> Response:
        if "\x00" in request.scope["path"] or b"%00" in request.scope["query_string"]:
            raise errors.invalid_body("NUL characters are not allowed in the URL")
        return await endpoint(await authenticate(request))

    handle.__name__ = endpoint.__name__
    return Route(f"/v1/users/{{user_id}}{path}", handle, methods=methods)
