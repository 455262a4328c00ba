"""The messaging controls in the console: a number's opt-out list (read only: entries
are added and removed through the API, or by the recipients' keywords) and cancelling a
queued or scheduled message through the API's own ``cancel_message``, so the rule (which
states may be cancelled, the lock against the engine's claim, the callback) is the API's.
"""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from trebuchet.server.api.message_cancel import cancel_message
from trebuchet.server.api.opt_outs import opt_out_json
from trebuchet.server.console.api_calls import call
from trebuchet.server.console.session import PREFIX, Page, console_route
from trebuchet.server.domain import errors
from trebuchet.server.store.opt_outs import ALL_NUMBERS, OptOutFilter

# Entries shown of each list (the number's own, the user-wide ones); the API pages the rest.
LISTED = 200


async def number_opt_outs(p: Page) -> Response:
    """Who receives nothing from this number: its own entries and the user-wide ones."""
    number_id = p.request.path_params["number_id"]
    row = await p.ctx.store.numbers.get(p.user_id, number_id)
    if row is None:
        raise errors.not_found("number", number_id)
    lists = p.ctx.store.opt_outs
    own = await lists.list(p.user_id, OptOutFilter(number=row["number"]), limit=LISTED + 1)
    every = await lists.list(p.user_id, OptOutFilter(number=ALL_NUMBERS), limit=LISTED + 1)
    return p.render(
        "opt_outs.html", nav="numbers", number=row["number"], listed=LISTED,
        own=[opt_out_json(entry) for entry in own[:LISTED]], own_more=len(own) > LISTED,
        every=[opt_out_json(entry) for entry in every[:LISTED]], every_more=len(every) > LISTED,
    )  # fmt: skip


async def cancel(p: Page) -> Response:
    """``POST .../messages/{id}/cancel`` of the API: 404 for another user's message, 409
    (shown as the API words it) once the message is on its way."""
    message_id = p.request.path_params["message_id"]
    await call(cancel_message, p.ctx, {}, message_id=message_id)
    return RedirectResponse(f"{PREFIX}/messages/{message_id}", 303)


routes = [
    console_route(f"{PREFIX}/numbers/{{number_id}}/opt-outs", number_opt_outs),
    console_route(f"{PREFIX}/messages/{{message_id}}/cancel", cancel, ("POST",)),
]
