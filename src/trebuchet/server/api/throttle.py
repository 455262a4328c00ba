"""Failed-authentication throttling and per-user rate limits, as authentication uses them.

Every kind of credential (API token and secret, the admin bearer token, a carrier's
event credentials) passes :meth:`Guard.attempt`: (1) if the client IP, or the client IP
with this principal, has failed too often in the window, answer 429 without looking at
the credentials; (2) verify them, counting a failure against both keys; then, for users,
(3) take one token from the user's rate-limit bucket, or answer 429.

The per-principal key includes the client IP, so a stranger who knows an API token can
exhaust only their own attempts, never lock the owner out.  Principals are hashed into
the key so that a client cannot make the counter store long strings.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from starlette.requests import Request

from trebuchet.server import metrics
from trebuchet.server.config import Settings
from trebuchet.server.domain import errors
from trebuchet.server.limits import FailureCounter, LimiterUnavailable, Limits, RateLimiter

T = TypeVar("T")

# Seconds a client is asked to wait when the limiter is down and fails closed.
LIMITER_RETRY_AFTER = 1


def too_many(wait: float) -> errors.ApiError:
    reset_ms = math.ceil((time.time() + wait) * 1000)
    return errors.rate_limited(reset_ms, max(1, math.ceil(wait)))


def limiter_down() -> errors.ApiError:
    error = errors.unavailable("The request limiter is unavailable; try again shortly")
    error.headers["Retry-After"] = str(LIMITER_RETRY_AFTER)
    return error


def client_ip(request: Request) -> str:
    client = request.scope.get("client")  # cheaper than ``request.client``
    return str(client[0]) if client else "unknown"


def _digest(principal: str) -> str:
    return hashlib.sha256(principal.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass
class Guard:
    rate: RateLimiter | None = None
    failures: FailureCounter | None = None
    ip_limit: int = 0
    token_limit: int = 0

    @classmethod
    def create(cls, limits: Limits, settings: Settings) -> Guard:
        return cls(
            limits.rate,
            limits.failures,
            settings.auth_failure_limit_ip,
            settings.auth_failure_limit_token,
        )

    def _keys(self, request: Request, principal: str | None) -> dict[str, int]:
        ip = client_ip(request)
        keys = {}
        if self.ip_limit > 0:
            keys[f"ip:{ip}"] = self.ip_limit
        if principal is not None and self.token_limit > 0:
            keys[f"cred:{ip}:{_digest(principal)}"] = self.token_limit
        return keys

    async def attempt(
        self, request: Request, principal: str | None, verify: Callable[[], Awaitable[T | None]]
    ) -> T:
        """What ``verify`` returns, once the client may try and the credentials hold.

        ``principal`` names what the credentials claim to be (``token:<api token>``,
        ``admin``, ``carrier:<name>``), or is None when nothing readable was presented;
        ``verify`` answers None for wrong credentials.  Blocked: 429; wrong: 401.
        """
        await self.check(request, principal)
        verified = await verify()
        if verified is None:
            raise await self.failed(request, principal)
        return verified

    async def check(self, request: Request, principal: str | None) -> None:
        """429 when the client IP, or the IP with this principal, is over its limit."""
        if self.failures is None:
            return
        try:
            wait = await self.failures.blocked(self._keys(request, principal))
        except LimiterUnavailable:
            raise limiter_down() from None
        if wait > 0:
            metrics.throttled("auth")
            raise too_many(wait)

    async def failed(self, request: Request, principal: str | None) -> errors.ApiError:
        """Count a failed authentication; the error to answer with."""
        metrics.auth_failed()
        if self.failures is not None:
            # A wrong credential is a 401 even when the count is lost: a closed limiter
            # already refused the check before it.
            with contextlib.suppress(LimiterUnavailable):
                await self.failures.fail(list(self._keys(request, principal)))
        return errors.access_denied()

    async def admit(self, user_id: str) -> None:
        """429 when the user is over the request rate."""
        if self.rate is None:
            return
        try:
            verdict = await self.rate.hit(user_id)
        except LimiterUnavailable:
            raise limiter_down() from None
        if not verdict.allowed:
            metrics.throttled("rate")
            raise too_many(verdict.retry_after)
