"""Who is looking: the session cookie, CSRF on every form, and the route wrapper that
turns a request into a :class:`Page` (the signed-in user's API context) or a redirect.

The cookie holds a random key (``HttpOnly``, ``SameSite=Strict``, ``Secure`` on https);
the store keeps only its SHA-256 with the user, the operator flag, the CSRF token and
the last use (``store/console_sessions.py``).  Every POST must carry the session's CSRF
token in a ``csrf`` field, compared in constant time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from trebuchet.server.api.body import read_body
from trebuchet.server.api.context import Ctx, Services
from trebuchet.server.console.render import page
from trebuchet.server.domain import errors
from trebuchet.server.domain.tokens import token_matches
from trebuchet.server.store.console_sessions import ConsoleSession

COOKIE = "trebuchet_console"
PREFIX = "/console"
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass
class Page:
    """One signed-in request: the API's context for its user, the session, the form."""

    ctx: Ctx
    session: ConsoleSession
    form: Mapping[str, str] = field(default_factory=dict)

    @property
    def request(self) -> Request:
        return self.ctx.request

    @property
    def user_id(self) -> str:
        return self.ctx.user.id

    def render(self, template: str, status: int = 200, **context: object) -> Response:
        """``template`` with what every signed-in page shows (user, CSRF token, nav)."""
        base = {"viewer": self.ctx.user, "session": self.session, "csrf": self.session.csrf}
        return page(self.request, template, {**base, **context}, status=status)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def idle_us(services: Services) -> int:
    return int(services.settings.console_idle_minutes * 60 * 1_000_000)


def set_session_cookie(request: Request, response: Response, key: str) -> None:
    response.set_cookie(
        COOKIE,
        key,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path if request.method == "GET" else PREFIX
    return RedirectResponse(f"{PREFIX}/sign-in?next={quote(target, safe='/')}", 303)


async def read_form(request: Request, services: Services) -> dict[str, str]:
    """The urlencoded form of a POST (the last value of a repeated field), size-limited."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != FORM_TYPE:
        raise errors.invalid_body(f"A console form must be sent as {FORM_TYPE}")
    raw = await read_body(request, services.settings.max_body_bytes)
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise errors.invalid_body("The form is not UTF-8") from None
    return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=100))


async def current_session(request: Request, services: Services) -> ConsoleSession | None:
    key = request.cookies.get(COOKIE)
    if not key:
        return None
    return await services.store.console_sessions.resume(key, idle_us(services))


def error_page(request: Request, exc: errors.ApiError, session: ConsoleSession | None) -> Response:
    context = {"error": exc, "csrf": session.csrf if session else "", "viewer": None}
    return page(request, "error.html", context, status=exc.status)


def request_root(request: Request, services: Services) -> str:
    return (services.settings.public_url or "").rstrip("/") or str(request.base_url).rstrip("/")


Endpoint = Callable[[Page], Awaitable[Response]]


def console_route(path: str, endpoint: Endpoint, methods: tuple[str, ...] = ("GET",)) -> Route:
    """A console page that needs a signed-in user: no session, or an idle one, redirects
    to sign-in; an operator without a chosen user goes to the user picker; a POST
    without the session's CSRF token is 403.  API errors render as an error page."""

    async def handle(request: Request) -> Response:
        services = services_of(request)
        session = await current_session(request, services)
        if session is None:
            return sign_in_redirect(request)
        try:
            form: dict[str, str] = {}
            if request.method == "POST":
                form = await read_form(request, services)
                if not token_matches(form.get("csrf", ""), session.csrf):
                    raise errors.ApiError(
                        "forbidden", "csrf-token-mismatch",
                        "The form is out of date or did not come from this console; "
                        "reload the page and try again",
                    )  # fmt: skip
            if session.user_id is None:
                return RedirectResponse(f"{PREFIX}/operator/users", 303)
            user = await services.store.users.get(session.user_id)
            if user is None:
                return sign_in_redirect(request)
            ctx = Ctx(request, services, user, request_root(request, services))
            return await endpoint(Page(ctx, session, form))
        except errors.ApiError as exc:
            return error_page(request, exc, session)

    handle.__name__ = endpoint.__name__
    return Route(path, handle, methods=list(methods))
