"""Failed-authentication throttling and per-user rate limits, as authentication uses them.

Order on every request to a user route: (1) if the client IP or the presented token has
failed too often in the window, answer 429 without looking at the secret; (2) verify the
credentials, counting a failure against the IP (and the token, when it exists); (3) take
one token from the user's rate-limit bucket, or answer 429.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from starlette.requests import Request

from trebuchet.server import metrics
from trebuchet.server.config import Settings
from trebuchet.server.domain import errors
from trebuchet.server.limits import FailureCounter, Limits, RateLimiter


def too_many(wait: float) -> errors.ApiError:
    reset_ms = math.ceil((time.time() + wait) * 1000)
    return errors.rate_limited(reset_ms, max(1, math.ceil(wait)))


def client_ip(request: Request) -> str:
    client = request.scope.get("client")  # cheaper than ``request.client``
    return str(client[0]) if client else "unknown"


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

    def _keys(self, request: Request, token: str | None) -> dict[str, int]:
        keys = {}
        if self.ip_limit > 0:
            keys[f"ip:{client_ip(request)}"] = self.ip_limit
        if token is not None and self.token_limit > 0:
            keys[f"token:{token}"] = self.token_limit
        return keys

    async def check(self, request: Request, token: str | None) -> None:
        """429 when the client IP or the token is over its failure limit."""
        if self.failures is None:
            return
        wait = await self.failures.blocked(self._keys(request, token))
        if wait > 0:
            metrics.throttled("auth")
            raise too_many(wait)

    async def failed(self, request: Request, token: str | None) -> errors.ApiError:
        """Count a failed authentication; ``token`` only when it names a real user."""
        metrics.auth_failed()
        if self.failures is not None:
            await self.failures.fail(list(self._keys(request, token)))
        return errors.access_denied()

    async def admit(self, user_id: str) -> None:
        """429 when the user is over the request rate."""
        if self.rate is None:
            return
        verdict = await self.rate.hit(user_id)
        if not verdict.allowed:
            metrics.throttled("rate")
            raise too_many(verdict.retry_after)
