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


def _bearer(request: Request) -> str | None:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else None


async def check_admin_token(request: Request, services: Services, given: str | None) -> None:
    """Pass when ``given`` is the admin token; 404 while none is set, else 401 or 429
    (the admin routes' bearer header and the console's operator sign-in come here)."""
    token = services.settings.admin_token
    if not token:
        raise errors.resource_not_found()

    async def verify() -> bool | None:
        return True if given is not None and token_matches(given, token) else None

    await services.guard.attempt(request, ADMIN_PRINCIPAL, verify)


async def admin_services(request: Request) -> Services:
    """The app's services once the request carries the admin token; 404, 401 or 429."""
    services: Services = request.app.state.services
    await check_admin_token(request, services, _bearer(request))
    return services
