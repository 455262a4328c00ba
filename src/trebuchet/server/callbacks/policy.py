"""Which failed callback tries are final.

A receiver that answers 4xx has read the request and refused it: trying the same request
again will not change its mind, except for the 4xx answers that say "not now" (408
Request Timeout, 409 Conflict, 425 Too Early, 429 Too Many Requests).  An address the
outbound policy refuses is refused for good too.  Everything else (5xx, 3xx, timeouts,
connection failures) is transient and retried until the event's window closes.
"""

from __future__ import annotations

from trebuchet.server.callbacks.sender import CallbackOutcome

# 4xx answers that are retried like a 5xx.
TRANSIENT_CLIENT_ERRORS = frozenset({408, 409, 425, 429})


def is_permanent(outcome: CallbackOutcome) -> bool:
    """Whether trying ``outcome``'s request again cannot succeed."""
    if outcome.refused:
        return True
    status = outcome.status
    return status is not None and 400 <= status < 500 and status not in TRANSIENT_CLIENT_ERRORS
