"""The one middleware on every request: request id, access log line and metrics.

A plain ASGI class.  The request id comes from a well-formed ``X-Request-Id`` header or
is made up, is echoed on the response and stamped on every log record of the request.
A made-up id only has to be unique enough to find a request in the logs, so it comes
from the fast non-cryptographic generator (the system's costs a system call per request).
"""

from __future__ import annotations

import logging
import random
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trebuchet.server import metrics
from trebuchet.server.logs import REQUEST_ID

REQUEST_ID_HEADER = b"x-request-id"
_VALID_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
UNMATCHED = "unmatched"
# Set by authentication: the id of the user the credentials belong to.
USER_SCOPE_KEY = "trebuchet.user_id"

access_log = logging.getLogger("trebuchet.access")


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            return value.decode() if _VALID_ID.fullmatch(value) else None
    return None


class ObserveMiddleware:
    def __init__(self, app: ASGIApp, *, metrics_enabled: bool = True, log_access: bool = True):
        self.app = app
        self.metrics_enabled = metrics_enabled
        self.log_access = log_access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or f"{random.getrandbits(64):016x}"
        # Left set on purpose when the app raises: the 500 handler runs after this frame
        # and still logs under this request's id.
        REQUEST_ID.set(request_id)
        header = (REQUEST_ID_HEADER, request_id.encode())
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route: Any = scope.get("route")
        template = getattr(route, "path", None) or UNMATCHED
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        if self.metrics_enabled:
            metrics.observe_request(template, method, status, seconds)
        if self.log_access:
            user_id = scope.get(USER_SCOPE_KEY)
            access_log.info(
                "%s %s %d %.1fms",
                method,
                template,
                status,
                seconds * 1000,
                extra={
                    "http": {
                        "method": method,
                        "route": template,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                        "user_id": user_id,
                    }
                },
            )
