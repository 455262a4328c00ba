"""The sandbox phone: a handset simulator.  Pick a handset number, see what the user's
numbers sent to it (live), and send an SMS or MMS from it to one of the user's numbers,
which arrives through the real inbound path (``app.state.delivery`` ``route``: the
number's application callback, the conversation, user errors)."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from trebuchet.server.api import validation as v
from trebuchet.server.api.message_output import message_out
from trebuchet.server.api.messages import message_page
from trebuchet.server.carriers.base import InboundMessage
from trebuchet.server.console.message_pages import with_query
from trebuchet.server.console.session import PREFIX, Page, console_route
from trebuchet.server.domain import errors
from trebuchet.server.engine.delivery import Delivery

DEFAULT_HANDSET = "+15557654321"
SHOWN = 30
# The sandbox's reserved destinations (docs/sandbox.md) and what each does.
MAGIC_NUMBERS = (
    ("+15559990000", "Sent; delivered receipt at once (like any ordinary number)"),
    ("+15559990720", "Sent; not-delivered receipt with code 720 (any §3.4 code in CCC)"),
    ("+15559991030", "Sent, delivery waiting; delivered receipt 30 s later (SSS seconds)"),
    ("+15559992000", "Rejected at submit: state error, an error callback, a user error"),
    ("+15559993002", "Throttled for the first 2 tries (NNN), then sent"),
    ("+15559994000", "Sent; no receipt ever (delivery stays waiting)"),
)


def _handset(p: Page) -> str:
    value = p.request.query_params.get("handset") or p.form.get("handset") or DEFAULT_HANDSET
    return v.phone_number("message", "handset", value.strip(), short_code=True)


async def _render(p: Page, handset: str, problem: str | None, status: int = 200) -> Response:
    pairs = [("to", handset), ("sortOrder", "desc"), ("size", str(SHOWN))]
    page = await message_page(with_query(p.ctx, pairs))
    numbers = await p.ctx.store.numbers.list(p.user_id, {}, None, 100)
    template = "_phone_inbox.html" if p.request.headers.get("hx-request") else "phone.html"
    return p.render(
        template, status, nav="phone", handset=handset, problem=problem,
        received=[message_out(row) for row in page.rows], numbers=numbers,
        magic=MAGIC_NUMBERS, quoted=quote(handset),
    )  # fmt: skip


async def phone(p: Page) -> Response:
    try:
        handset = _handset(p)
    except errors.ApiError as exc:
        return await _render(p, DEFAULT_HANDSET, exc.message, exc.status)
    return await _render(p, handset, None)


async def send_from_phone(p: Page) -> Response:
    handset = _handset(p)
    try:
        to = v.phone_number("message", "to", p.form.get("to", "").strip())
        if await p.ctx.store.numbers.get(p.user_id, to) is None:
            raise errors.number_access_denied(p.user_id, to)
        text = p.form.get("text", "")
        media = [p.form["media"].strip()] if p.form.get("media", "").strip() else []
        if not text and not media:
            raise errors.invalid_property("message", "text", "must not be empty without media")
        delivery: Delivery = p.request.app.state.delivery
        await delivery.route(InboundMessage(handset, to, text, media))
    except errors.ApiError as exc:
        if exc.status >= 500:
            raise
        return await _render(p, handset, exc.message, exc.status)
    return RedirectResponse(f"{PREFIX}/phone?handset={quote(handset)}", 303)


routes = [
    console_route(f"{PREFIX}/phone", phone),
    console_route(f"{PREFIX}/phone", send_from_phone, ("POST",)),
]
