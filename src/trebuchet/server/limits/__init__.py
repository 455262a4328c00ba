"""Request rate limits and failed-authentication throttling.

Two small interfaces (:class:`RateLimiter`, :class:`FailureCounter`), each with an
in-process implementation and a Redis one that several API processes can share.
:func:`build_limits` picks them from the settings; :func:`check_backend` makes sure at
start-up that a shared backend answers, so a wrong address stops the server instead of
switching the limits off.
"""

from __future__ import annotations

from trebuchet.server.limits.base import (
    FailureCounter,
    LimiterUnavailable,
    Limits,
    RateLimiter,
    Verdict,
)
from trebuchet.server.limits.build import build_limits, check_backend

__all__ = [
    "FailureCounter",
    "LimiterUnavailable",
    "Limits",
    "RateLimiter",
    "Verdict",
    "build_limits",
    "check_backend",
]
