"""``Idempotency-Key`` on sends: the header, the request it stands for, and replays.

A key names one request.  Its first answer is stored with a hash of the request (method,
route and the body in a canonical form: keys sorted, no spacing), so a retry of the same
request replays that answer while a different request under the same key is refused with
``422 idempotency-key-reused`` instead of silently answering for a message never sent.
"""

from __future__ import annotations

import hashlib

import msgspec
from starlette.responses import Response
from starlette.types import Scope

from trebuchet.server.api.responses import empty_response, raw_json_response
from trebuchet.server.api.scope import header
from trebuchet.server.domain import errors
from trebuchet.server.store import StoredResponse

IDEMPOTENCY_HEADER = b"idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_IDEMPOTENCY_KEY = 255


def idempotency_key(scope: Scope) -> str | None:
    key = header(scope, IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise errors.ApiError(
            "bad-request",
            "validation-error",
            f"The Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY} characters",
        )
    return key


def request_hash(route: str, body: bytes) -> str:
    """SHA-256 of the request: ``route`` (method and path template) and the JSON body in a
    canonical form, so spacing and property order do not make two requests differ."""
    canonical = msgspec.json.encode(msgspec.json.decode(body), order="sorted")
    return hashlib.sha256(route.encode() + b"\n" + canonical).hexdigest()


def replay(stored: StoredResponse) -> Response:
    headers = {REPLAYED_HEADER: "true"}
    if stored.location:
        headers["Location"] = stored.location
    if stored.body is None:
        return empty_response(stored.status, headers)
    return raw_json_response(stored.body.encode(), stored.status, headers)


def key_reused(key: str) -> errors.ApiError:
    return errors.ApiError(
        "unprocessable",
        "idempotency-key-reused",
        f"The Idempotency-Key '{key}' was already used for a different request; "
        "a new request needs a new key",
        (errors.Detail("idempotencyKey", key),),
    )
