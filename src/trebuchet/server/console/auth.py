"""Signing in and out: a user with their API token and secret, or the operator with the
admin token (who then picks a user).  Credentials are checked by the API's own functions
(``api/context.py`` ``verify_credentials``, ``api/admin_auth.py`` ``check_admin_token``),
so failed sign-ins count against the same failed-auth throttle as the API."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from trebuchet.server.api.admin_auth import check_admin_token
from trebuchet.server.api.context import verify_credentials
from trebuchet.server.console.render import page
from trebuchet.server.console.session import (
    COOKIE,
    PREFIX,
    current_session,
    error_page,
    read_form,
    services_of,
    set_session_cookie,
    sign_in_redirect,
)
from trebuchet.server.domain import errors
from trebuchet.server.domain.tokens import token_matches

# The sign-in form's CSRF token lives in its own cookie until a session exists.
PRE_COOKIE = "trebuchet_console_signin"
USERS_PAGE = 50


def _next_path(value: str | None) -> str:
    """Where to go after signing in: a console path only (no open redirect)."""
    if value and value.startswith(f"{PREFIX}/") and not value.startswith("//"):
        return value if "\\" not in value else f"{PREFIX}/dashboard"
    return f"{PREFIX}/dashboard"


def _sign_in_page(request: Request, problem: str | None, status: int = 200) -> Response:
    token = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
    next_path = _next_path(request.query_params.get("next"))
    response = page(
        request,
        "sign_in.html",
        {"csrf": token, "problem": problem, "next": next_path, "viewer": None},
        status=status,
    )
    response.set_cookie(
        PRE_COOKIE, token, path=PREFIX, httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


async def sign_in_form(request: Request) -> Response:
    return _sign_in_page(request, None)


def _refusal(exc: errors.ApiError) -> str:
    if exc.status == 429:
        return "Too many failed sign-ins from here. Wait a little and try again."
    if exc.status == 404:
        return "Operator sign-in is off: this server has no admin token."
    return "Those credentials did not match. Check them and try again."


async def sign_in(request: Request) -> Response:
    services = services_of(request)
    try:
        form = await read_form(request, services)
    except errors.ApiError as exc:
        return error_page(request, exc, None)
    expected = request.cookies.get(PRE_COOKIE, "")
    if not expected or not token_matches(form.get("csrf", ""), expected):
        return _sign_in_page(request, "The sign-in form expired. Please try again.", 403)
    sessions = services.store.console_sessions
    try:
        if "admin_token" in form:
            await check_admin_token(request, services, form["admin_token"])
            key, _ = await sessions.start(None, operator=True)
            target = f"{PREFIX}/operator/users"
        else:
            credentials = (form.get("api_token", "").strip(), form.get("api_secret", "").strip())
            user = await verify_credentials(request, services, credentials)
            key, _ = await sessions.start(user.id, operator=False)
            target = _next_path(form.get("next"))
    except errors.ApiError as exc:
        return _sign_in_page(request, _refusal(exc), exc.status)
    response = RedirectResponse(target, 303)
    set_session_cookie(request, response, key)
    response.delete_cookie(PRE_COOKIE, path=PREFIX)
    return response


async def sign_out(request: Request) -> Response:
    services = services_of(request)
    session = await current_session(request, services)
    if session is not None:
        try:
            form = await read_form(request, services)
        except errors.ApiError as exc:
            return error_page(request, exc, session)
        if not token_matches(form.get("csrf", ""), session.csrf):
            return error_page(request, errors.ApiError(
                "forbidden", "csrf-token-mismatch", "Reload the page and sign out again"
            ), session)  # fmt: skip
        await services.store.console_sessions.end(request.cookies[COOKIE])
    response = RedirectResponse(f"{PREFIX}/sign-in", 303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


async def operator_users(request: Request) -> Response:
    """The operator's list of users to act as; choosing one is a CSRF-checked POST."""
    services = services_of(request)
    session = await current_session(request, services)
    if session is None or not session.operator:
        return sign_in_redirect(request)
    if request.method == "POST":
        try:
            form = await read_form(request, services)
            if not token_matches(form.get("csrf", ""), session.csrf):
                raise errors.ApiError("forbidden", "csrf-token-mismatch", "Reload and try again")
            user = await services.store.users.get(form.get("user_id", ""))
            if user is None:
                raise errors.not_found("user", form.get("user_id", ""))
        except errors.ApiError as exc:
            return error_page(request, exc, session)
        await services.store.console_sessions.choose_user(request.cookies[COOKIE], user.id)
        return RedirectResponse(f"{PREFIX}/dashboard", 303)
    after = request.query_params.get("after") or None
    users = await services.store.console.users(after, USERS_PAGE + 1)
    more = users[USERS_PAGE - 1]["id"] if len(users) > USERS_PAGE else None
    context = {"users": users[:USERS_PAGE], "more": more, "csrf": session.csrf, "viewer": None,
               "session": session}  # fmt: skip
    return page(request, "operator_users.html", context)


routes = [
    Route(f"{PREFIX}/sign-in", sign_in_form, methods=["GET"]),
    Route(f"{PREFIX}/sign-in", sign_in, methods=["POST"]),
    Route(f"{PREFIX}/sign-out", sign_out, methods=["POST"]),
    Route(f"{PREFIX}/operator/users", operator_users, methods=["GET", "POST"]),
]
