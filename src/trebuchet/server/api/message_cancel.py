"""``POST /v1/users/{userId}/messages/{messageId}/cancel``: stop a message before it is
handed to a carrier (an extension; docs/messaging-controls.md).

A ``queued`` (rate-limited ones included) or ``scheduled`` message ends ``canceled`` and
its callback goes out; the answer is 200 with the message.  Cancelling a cancelled
message answers the same, so a retried request is harmless.  A message being sent, sent,
failed or received answers 409 ``message-not-cancelable``, naming its state.  The change is
made under the row's lock in one transaction with its event, so it cannot race the
engine's claim (``store/message_cancels.py``).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from trebuchet.server.api import openapi_parts as o
from trebuchet.server.api.context import Ctx, user_route
from trebuchet.server.api.message_output import message_out
from trebuchet.server.api.responses import json_response
from trebuchet.server.domain import errors
from trebuchet.server.domain.errors import ApiError, Detail
from trebuchet.server.engine.delivery import Delivery
from trebuchet.server.store.delivery import CancelOutcome


def not_cancelable(message_id: str, state: str) -> ApiError:
    return ApiError(
        "conflict",
        "message-not-cancelable",
        f"The message '{message_id}' is {state} and can no longer be cancelled: only queued "
        "or scheduled messages can",
        (Detail("messageId", message_id), Detail("state", state)),
    )


async def cancel_message(ctx: Ctx) -> Response:
    message_id = ctx.request.path_params["message_id"]
    delivery: Delivery = ctx.request.app.state.delivery
    done = await delivery.cancel(ctx.user.id, message_id)
    if done.outcome == CancelOutcome.NOT_FOUND or done.row is None:
        raise errors.not_found("message", message_id)
    if done.outcome == CancelOutcome.TOO_LATE:
        raise not_cancelable(message_id, str(done.row["state"]))
    row = await ctx.store.messages.get(ctx.user.id, message_id)
    if row is None:  # deleted since: as if it never was
        raise errors.not_found("message", message_id)
    return json_response(message_out(row))


routes = [user_route("/messages/{message_id}/cancel", cancel_message, ["POST"])]

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/users/{userId}/messages/{messageId}/cancel": {
        "parameters": [o.USER, o.path("messageId")],
        "post": {
            "summary": "Cancel a queued or scheduled message (an extension): it ends canceled",
            "responses": {
                "200": o.one("The message, now canceled (also when it already was)", "Message"),
                **o.ERRORS,
                "409": o.error("message-not-cancelable: being sent, sent, failed or inbound"),
            },
        },
    }
}
