"""The API's error type and the catalogue of errors it answers with (spec §2).

Every error body is ``{"category", "code", "message", "details"}``; the category fixes the
HTTP status.  Handlers raise :class:`ApiError`; one exception handler renders it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

CATEGORY_STATUS: dict[str, int] = {
    "bad-request": 400,
    "authorization": 401,
    "credit": 403,
    "limit": 403,
    "forbidden": 403,
    "not-found": 404,
    "method-not-allowed": 405,
    "conflict": 409,
    "payload-too-large": 413,
    "unsupported-media-type": 415,
    "range-not-satisfiable": 416,
    "unprocessable": 422,
    "too-many-requests": 429,
    "backend": 500,
    "unavailable": 503,
}


@dataclass(frozen=True)
class Detail:
    name: str
    value: str


@dataclass
class ApiError(Exception):
    category: str
    code: str
    message: str
    details: Sequence[Detail] = field(default_factory=tuple)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def status(self) -> int:
        return CATEGORY_STATUS[self.category]

    def body(self) -> dict[str, object]:
        return {
            "category": self.category,
            "code": self.code,
            "message": self.message,
            "details": [{"name": d.name, "value": d.value} for d in self.details],
        }


def _prop(resource: str, prop: str) -> tuple[Detail, ...]:
    return (Detail("resource", resource), Detail("property", prop))


def missing_property(resource: str, prop: str) -> ApiError:
    return ApiError(
        "bad-request",
        "missing-property",
        f"The '{resource}' resource property '{prop}' is required but was not specified",
        _prop(resource, prop),
    )


def blank_property(resource: str, prop: str) -> ApiError:
    return ApiError(
        "bad-request",
        "blank-property",
        f"The '{resource}' resource property '{prop}' must contain at least one "
        "non-whitespace character",
        _prop(resource, prop),
    )


def invalid_property(resource: str, prop: str, why: str) -> ApiError:
    return ApiError(
        "bad-request",
        "validation-error",
        f"The '{resource}' resource property '{prop}' {why}",
        _prop(resource, prop),
    )


def invalid_parameter(name: str, why: str) -> ApiError:
    return ApiError(
        "bad-request",
        "validation-error",
        f"The query parameter '{name}' {why}",
        (Detail("parameter", name),),
    )


def invalid_body(why: str) -> ApiError:
    return ApiError("bad-request", "invalid-request-body", why)


def invalid_callback_url(
    prop: str, url: str, why: str | None = None, setting: str | None = None
) -> ApiError:
    details: tuple[Detail, ...] = (Detail("property", prop), Detail("url", url))
    if why is not None:
        details += (Detail("reason", why),)
    if setting:
        details += (Detail("setting", setting),)
    return ApiError(
        "bad-request",
        "callback-invalid-url",
        f"The URL '{url}' is not a valid {prop}" + (f": {why}" if why else ""),
        details,
    )


def body_too_large(limit: int) -> ApiError:
    return ApiError(
        "payload-too-large",
        "request-too-large",
        f"The request body exceeds the limit of {limit} bytes",
        (Detail("limit", str(limit)),),
    )


def access_denied() -> ApiError:
    return ApiError(
        "authorization",
        "access-denied",
        "The authenticated user does not have sufficient permissions to access this resource",
        headers={"WWW-Authenticate": 'Basic realm="trebuchet"'},
    )


def user_access_denied(caller: str, target: str) -> ApiError:
    return ApiError(
        "authorization",
        "user-access-denied",
        f"User '{caller}' does not have permission to access user '{target}'",
        (Detail("userId", target),),
    )


def number_access_denied(user_id: str, number: str) -> ApiError:
    return ApiError(
        "authorization",
        "number-access-denied",
        f"User '{user_id}' does not have permission to use number '{number}'",
        (Detail("userId", user_id), Detail("number", number)),
    )


def no_allocated_number(user_id: str) -> ApiError:
    return ApiError(
        "authorization",
        "no-allocated-number",
        f"User '{user_id}' does not have allocated numbers",
        (Detail("userId", user_id),),
    )


def multi_message_limit(count: int, limit: int) -> ApiError:
    return ApiError(
        "limit",
        "multi-message-limit",
        f"The number of messages [{count}] in the multi message request is greater than "
        f"the limit [{limit}].",
    )


def media_invalid_url(url: str) -> ApiError:
    return ApiError(
        "forbidden",
        "media-invalid-url",
        f"The media URL '{url}' is invalid.",
        (Detail("url", url),),
    )


def media_not_found(name: str) -> ApiError:
    return ApiError(
        "not-found",
        "media-not-found",
        f"The media resource named '{name}' could not be found",
        (Detail("mediaName", name),),
    )


def media_size_overflow(size: int, limit: int) -> ApiError:
    return ApiError(
        "forbidden",
        "media-size-overflow",
        f"The media size {size} bytes is larger than the maximum {limit} bytes",
        (Detail("size", str(size)), Detail("limit", str(limit))),
    )


def media_not_supported(content_type: str, code: str = "media-not-supported") -> ApiError:
    return ApiError(
        "forbidden",
        code,
        f"Media type not supported {content_type}",
        (Detail("contentType", content_type),),
    )


def media_unavailable(url: str) -> ApiError:
    return ApiError(
        "unavailable", "media-unavailable", f"Failed to access media {url}", (Detail("url", url),)
    )


def media_invalid_name(why: str, name: str) -> ApiError:
    return ApiError("bad-request", "validation-error", why, (Detail("mediaName", name),))


def media_length_required(header: str = "Content-Length") -> ApiError:
    return ApiError(
        "bad-request",
        "validation-error",
        f"The media size must be specified by the {header} header",
        (Detail("header", header),),
    )


def media_invalid_content_length(header: str = "Content-Length") -> ApiError:
    # Code and status (404) as the original catalogue has them, misspelling included.
    return ApiError(
        "not-found",
        "media-invalid-content-lenght",
        f"The media source {header} header could not be parsed as a number",
        (Detail("header", header),),
    )


def media_range_not_satisfiable(size: int) -> ApiError:
    return ApiError(
        "range-not-satisfiable",
        "media-range-not-satisfiable",
        f"The requested range is outside the media's {size} bytes",
        (Detail("size", str(size)),),
        headers={"Content-Range": f"bytes */{size}"},
    )


def not_found(kind: str, ident: str) -> ApiError:
    detail_name = {
        "message": "messageId",
        "number": "number",
        "application": "applicationId",
        "event": "eventId",
    }
    return ApiError(
        "not-found",
        f"{kind}-not-found",
        f"The {kind} '{ident}' could not be found",
        (Detail(detail_name.get(kind, "id"), ident),),
    )


def resource_not_found() -> ApiError:
    return ApiError("not-found", "resource-not-found", "The requested resource could not be found.")


def method_not_allowed(method: str) -> ApiError:
    return ApiError(
        "method-not-allowed",
        "method-not-allowed",
        f"The method {method} is not allowed on this resource",
        (Detail("requestMethod", method),),
    )


def conflict(code: str, message: str) -> ApiError:
    return ApiError("conflict", code, message)


def rate_limited(reset_ms: int, retry_after_s: int) -> ApiError:
    return ApiError(
        "too-many-requests",
        "rate-limit-reached",
        "See X-RateLimit-Reset Header for UNIX Timestamp (epoch) when limit is cleared",
        (Detail("rateLimitResetTime", str(reset_ms)),),
        headers={"X-RateLimit-Reset": str(reset_ms), "Retry-After": str(retry_after_s)},
    )


def unavailable(message: str) -> ApiError:
    return ApiError("unavailable", "service-unavailable", message)


def internal_error() -> ApiError:
    return ApiError("backend", "internal-error", "An error occurred handling the request")


def text_too_long() -> ApiError:
    return ApiError(
        "bad-request",
        "validation-error",
        "The message text must be 2,048 characters or less",
        _prop("message", "text"),
    )
