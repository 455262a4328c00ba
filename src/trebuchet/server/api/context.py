"""Per-app services and per-request context, and the authentication in front of every route.

Credentials are HTTP Basic ``token:secret``.  A verified token is cached for
``cache_seconds`` (the secret is still compared, in constant time, on every request), so
authentication costs no database round trip on the hot path.  An unknown token is
remembered as long, and its secret hashed and compared all the same, so whether a token
exists shows neither in the answer nor in its timing.  The exact ``Authorization``
header that passed is remembered for as long, so a client repeating it is not decoded
and hashed again; any other header (a different secret) is verified in full.
Failed-authentication
throttling and per-user rate limits (``throttle.py``) run here too, each a single
attribute check when switched off.
"""

from __future__ import annotations

import base64
import hashlib
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
from trebuchet.server.net.guard import AddressPolicy
from trebuchet.server.store import Store, User
from trebuchet.server.store.messaging_settings import UserSettings
from trebuchet.server.store.users import hash_secret, secret_matches

_CACHE_LIMIT = 100_000
# What a secret presented with an unknown token is compared with: the same work as a
# known token's, with no secret that could match.
UNKNOWN_TOKEN_HASH = "0" * len(hash_secret(""))


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
    # Tokens no user has, remembered apart so that a flood of them evicts no user.
    unknown: TtlCache = field(default_factory=lambda: TtlCache(0))
    # Which callback URLs a send or an application may name (docs/callbacks.md).
    outbound: AddressPolicy = field(default_factory=AddressPolicy)
    # Users' messaging settings (their smart encoding default), by user id.
    messaging: TtlCache = field(default_factory=lambda: TtlCache(0))

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
            unknown=TtlCache(settings.cache_seconds),
            outbound=AddressPolicy.from_settings(settings),
            messaging=TtlCache(settings.cache_seconds),
        )

    async def owns_number(self, user_id: str, number: str) -> bool:
        key = (user_id, number)
        if self.ownership.get(key):
            return True
        owned = await self.store.numbers.owns(user_id, number)
        if owned:
            self.ownership.put(key, True)
        return owned

    async def user_settings(self, user_id: str) -> UserSettings:
        """The user's messaging settings, trusted for ``cache_seconds`` like ownership."""
        cached = self.messaging.get(user_id)
        if isinstance(cached, UserSettings):
            return cached
        found = await self.store.messaging_settings.user(user_id)
        self.messaging.put(user_id, found)
        return found


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


def principal(token: str) -> str:
    """What API credentials claim to be, for failed-authentication throttling."""
    return f"token:{token}"


async def _user_for(services: Services, token: str) -> User | None:
    """The token's user; misses are remembered as long as hits, so both cost the same."""
    user = services.users.get(token)
    if isinstance(user, User):
        return user
    # Unknown tokens are the client's choice: remembered by digest, so each costs 32 bytes.
    miss = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
    if services.unknown.get(miss):
        return None
    found = await services.store.users.by_token(token)
    if found is None:
        services.unknown.put(miss, True)
    else:
        services.users.put(token, found)
    return found


async def verify_credentials(
    request: Request, services: Services, credentials: tuple[str, str] | None
) -> User:
    """The user of API ``(token, secret)`` through the failed-auth throttle: 401 or 429
    otherwise.  The API's Basic header and the console's sign-in form both come here."""

    async def verify() -> User | None:
        if credentials is None:
            return None
        token, secret = credentials
        user = await _user_for(services, token)
        # An unknown token is hashed and compared too, so it answers in the same time.
        matches = secret_matches(secret, user.secret_hash if user else UNKNOWN_TOKEN_HASH)
        return user if user is not None and matches else None

    return await services.guard.attempt(
        request, principal(credentials[0]) if credentials else None, verify
    )


async def _verify(request: Request, services: Services, authorization: str | None) -> User:
    return await verify_credentials(request, services, _credentials(authorization))


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
        await guard.check(request, principal(user.api_token))
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
