"""Numbers and applications: list, order, create, edit and link, each write through the
API's own endpoint (``api/phone_numbers.py``, ``api/applications.py``) so the checks and
their messages are the API's."""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse, Response

from trebuchet.server.api.applications import (
    application_json,
    create_application,
    update_application,
)
from trebuchet.server.api.phone_numbers import create_number, number_json, update_number
from trebuchet.server.console.api_calls import call
from trebuchet.server.console.session import PREFIX, Page, console_route
from trebuchet.server.domain import errors

LISTED = 200
METHODS = ("POST", "GET")


def _or_none(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


async def _numbers_page(p: Page, problem: str | None = None, status: int = 200) -> Response:
    rows = await p.ctx.store.numbers.list(p.user_id, {}, None, LISTED)
    apps = await p.ctx.store.applications.list(p.user_id, None, LISTED)
    return p.render(
        "numbers.html", status, nav="numbers", problem=problem,
        numbers=[number_json(p.ctx, row) for row in rows],
        applications=[application_json(row) for row in apps],
        self_service=p.ctx.settings.numbers_self_service,
    )  # fmt: skip


async def numbers(p: Page) -> Response:
    return await _numbers_page(p)


async def _written(p: Page, write: Any, back: str) -> Response:
    try:
        await write
    except errors.ApiError as exc:
        if exc.status >= 500:
            raise
        return await (_numbers_page if back.endswith("numbers") else _apps_page)(
            p, exc.message, exc.status
        )
    return RedirectResponse(back, 303)


async def order_number(p: Page) -> Response:
    body = {"number": p.form.get("number", "").strip(), "name": _or_none(p.form.get("name"))}
    return await _written(p, call(create_number, p.ctx, body), f"{PREFIX}/numbers")


async def edit_number(p: Page) -> Response:
    body = {
        "name": p.form.get("name", ""),
        "applicationId": p.form.get("applicationId", ""),  # "" unlinks, as in the API
        "fallbackNumber": _or_none(p.form.get("fallbackNumber")),
    }
    number_id = p.request.path_params["number_id"]
    write = call(update_number, p.ctx, body, number_id=number_id)
    return await _written(p, write, f"{PREFIX}/numbers")


def _application_body(p: Page) -> dict[str, Any]:
    """The form as the API's body; an empty field is left out (unchanged on an edit)."""
    return {
        "name": _or_none(p.form.get("name")),
        "incomingMessageUrl": _or_none(p.form.get("incomingMessageUrl")),
        "incomingMessageFallbackUrl": _or_none(p.form.get("incomingMessageFallbackUrl")),
        "callbackHttpMethod": _or_none(p.form.get("callbackHttpMethod")),
    }


async def _apps_page(p: Page, problem: str | None = None, status: int = 200) -> Response:
    rows = await p.ctx.store.applications.list(p.user_id, None, LISTED)
    return p.render(
        "applications.html", status, nav="applications", problem=problem,
        applications=[application_json(row) for row in rows], methods=METHODS,
    )  # fmt: skip


async def applications(p: Page) -> Response:
    return await _apps_page(p)


async def add_application(p: Page) -> Response:
    write = call(create_application, p.ctx, _application_body(p))
    return await _written(p, write, f"{PREFIX}/applications")


async def edit_application(p: Page) -> Response:
    app_id = p.request.path_params["application_id"]
    write = call(update_application, p.ctx, _application_body(p), application_id=app_id)
    return await _written(p, write, f"{PREFIX}/applications")


routes = [
    console_route(f"{PREFIX}/numbers", numbers),
    console_route(f"{PREFIX}/numbers", order_number, ("POST",)),
    console_route(f"{PREFIX}/numbers/{{number_id}}", edit_number, ("POST",)),
    console_route(f"{PREFIX}/applications", applications),
    console_route(f"{PREFIX}/applications", add_application, ("POST",)),
    console_route(f"{PREFIX}/applications/{{application_id}}", edit_application, ("POST",)),
]
