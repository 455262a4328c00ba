"""Per-app services and per-request context, and the authentication in front of every route.

Credentials are HTTP Basic ``token:secret``.  A verified token is cached for
``cache_seconds`` (the secret is still compared, in constant time, on every request), so
authentication costs no database round trip on the hot path.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trebuchet.server.api.pagination import CursorCodec
from trebuchet.server.config import Settings
from trebuchet.server.domain import errors
from trebuchet.server.store import Store, User
from trebuchet.server.store.store import secret_matches

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

    @classmethod
    def create(cls, settings: Settings, store: Store, cursor_secret: str) -> Services:
        return cls(
            settings=settings,
            store=store,
            cursors=CursorCodec(cursor_secret),
            users=TtlCache(settings.cache_seconds),
            ownership=TtlCache(settings.cache_seconds),
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


def _credentials(request: Request) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise errors.access_denied()
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise errors.access_denied() from None
    token, sep, secret = decoded.partition(":")
    if not sep:
        raise errors.access_denied()
    return token, secret


async def authenticate(request: Request) -> Ctx:
    services: Services = request.app.state.services
    token, secret = _credentials(request)
    user = services.users.get(token)
    if not isinstance(user, User):
        user = await services.store.user_by_token(token)
        if user is None:
            raise errors.access_denied()
        services.users.put(token, user)
    if not secret_matches(secret, user.secret_hash):
        raise errors.access_denied()
    path_user = request.path_params["user_id"]
    if path_user != user.id:
        raise errors.user_access_denied(user.id, path_user)
    base = services.settings.public_url or f"{request.url.scheme}://{request.url.netloc}"
    return Ctx(request, services, user, base.rstrip("/"))


Endpoint = Callable[[Ctx], Awaitable[Response]]


def user_route(path: str, endpoint: Endpoint, methods: list[str]) -> Route:
    """A route under ``/v1/users/{user_id}`` that only its own user may call."""

    async def handle(request: Request) -> Response:
        return await endpoint(await authenticate(request))

    handle.__name__ = endpoint.__name__
    return Route(f"/v1/users/{{user_id}}{path}", handle, methods=methods)
