"""Exception handlers: every error leaves as the spec's JSON error body."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from trebuchet.server.api.responses import json_response
from trebuchet.server.domain import errors
from trebuchet.server.logs import REQUEST_ID
from trebuchet.server.media.storage import MediaChanged, MediaStorageUnavailable
from trebuchet.server.store.faults import STORE_FAULTS, unavailable_reason

log = logging.getLogger("trebuchet.api")


def _render(request: Request, exc: errors.ApiError) -> Response:
    details = [
        *exc.details,
        errors.Detail("requestMethod", request.method),
        errors.Detail("requestPath", request.url.path.removeprefix("/v1").lstrip("/")),
    ]
    body = errors.ApiError(exc.category, exc.code, exc.message, details).body()
    return json_response(body, exc.status, exc.headers)


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.ApiError)
    return _render(request, exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error = errors.method_not_allowed(request.method)
        return _render(request, error)
    if exc.status_code == 404:
        return _render(request, errors.resource_not_found())
    return _render(request, errors.ApiError("bad-request", "bad-request", str(exc.detail)))


async def server_error(request: Request, exc: Exception) -> Response:
    route = getattr(request.scope.get("route"), "path", "unmatched")
    log.error("unhandled error on %s %s", request.method, route, exc_info=exc)
    error = errors.internal_error()
    request_id = REQUEST_ID.get()
    if request_id:  # the request-id middleware is inside this handler and never sees it
        error.headers["X-Request-Id"] = request_id
    return _render(request, error)


# nginx's "client closed request": in the access log and metrics, neither a client's
# mistake nor the server's.  Nobody reads the response.
CLIENT_CLOSED_REQUEST = 499


async def client_gone(request: Request, exc: Exception) -> Response:
    """The client went away while its body was being read: not a server error."""
    route = getattr(request.scope.get("route"), "path", "unmatched")
    log.info("client disconnected during the request body on %s %s", request.method, route)
    return Response(status_code=CLIENT_CLOSED_REQUEST)


# Seconds a client is asked to wait when the store cannot serve.
STORE_RETRY_AFTER = 1


async def store_fault(request: Request, exc: Exception) -> Response:
    """503 when the store is down, read-only or full (it may work again)."""
    reason = unavailable_reason(exc)
    if reason is None:
        raise exc  # a bug: on to ``server_error``, outside the request-id middleware
    route = getattr(request.scope.get("route"), "path", "unmatched")
    log.warning("store unavailable on %s %s: %s: %s", request.method, route,
                type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")  # fmt: skip
    error = errors.unavailable(reason)
    error.headers["Retry-After"] = str(STORE_RETRY_AFTER)
    return _render(request, error)


async def media_unavailable(request: Request, exc: Exception) -> Response:
    """503 when the media storage (an S3 bucket) does not answer, or a file changed under
    a download before its first byte; the storage's own words go to the log only."""
    route = getattr(request.scope.get("route"), "path", "unmatched")
    log.warning("media storage unavailable on %s %s: %s", request.method, route, exc)
    if isinstance(exc, MediaChanged):
        error = errors.unavailable("The media file changed while it was being read; try again")
    else:
        error = errors.unavailable("The media storage is not answering; try again later")
    error.headers["Retry-After"] = str(STORE_RETRY_AFTER)
    return _render(request, error)


exception_handlers = {
    errors.ApiError: api_error,
    HTTPException: http_error,
    ClientDisconnect: client_gone,
    **dict.fromkeys(STORE_FAULTS, store_fault),
    MediaStorageUnavailable: media_unavailable,
    MediaChanged: media_unavailable,
    Exception: server_error,
}
