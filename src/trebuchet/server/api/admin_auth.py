"""The operator's bearer token for ``/v1/admin/*``, throttled like every credential.

While the ``admin_token`` setting is unset the admin routes do not exist (404).  Wrong
tokens count against the same failed-auth throttle as API credentials (docs/security.md).
"""

from __future__ import annotations

from starlette.requests import Request

from trebuchet.server.api.context import Services
from trebuchet.server.domain import errors
from trebuchet.server.domain.tokens import token_matches

# The principal failed admin tokens are counted against (with the client IP).
ADMIN_PRINCIPAL = "admin"


def _bearer_matches(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and token_matches(given.strip(), token)


async def admin_services(request: Request) -> Services:
    """The app's services once the request carries the admin token; 404, 401 or 429."""
    services: Services = request.app.state.services
    token = services.settings.admin_token
    if not token:
        raise errors.resource_not_found()

    async def verify() -> bool | None:
        return True if _bearer_matches(request, token) else None

    await services.guard.attempt(request, ADMIN_PRINCIPAL, verify)
    return services
