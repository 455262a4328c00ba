"""``POST /v1/users/{userId}/messages``, the busiest route, taken before the router.

Every request that reaches the router passes the framework's exception middleware, a
scan of the route table and the request/response wrappers around the endpoint.  Sends
are most of the traffic, so this middleware recognises their path itself and calls the
route's own endpoint, rendering errors with the app's own exception handlers.  What is
answered is exactly what the router would answer; any other request goes on unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[[Request, Exception], Awaitable[Response]]


class SendRoute:
    def __init__(self, app: ASGIApp, *, route: Route, handlers: Mapping[type[Exception], Handler]):
        self.app = app
        self.route = route
        self.methods = route.methods or set()
        # ``Exception`` itself is left to the outermost middleware, which answers 500.
        self.handlers = {kind: fn for kind, fn in handlers.items() if kind is not Exception}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = None
        if (
            scope["type"] == "http"
            and scope["method"] in self.methods
            and not scope.get("root_path")
        ):
            matched = self.route.path_regex.match(scope["path"])  # the route's own pattern
        if matched is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        scope["path_params"] = matched.groupdict()
        request = Request(scope, receive)
        try:
            response = await self.route.endpoint(request)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Handler | None:
        for kind in type(exc).__mro__:
            handler = self.handlers.get(kind)
            if handler is not None:
                return handler
        return None
