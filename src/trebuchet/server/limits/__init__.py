"""Request rate limits and failed-authentication throttling.

Two small interfaces (:class:`RateLimiter`, :class:`FailureCounter`), each with an
in-process implementation and a Redis one that several API processes can share.
:func:`build_limits` picks them from the settings.
"""

from __future__ import annotations

from trebuchet.server.limits.base import FailureCounter, Limits, RateLimiter, Verdict
from trebuchet.server.limits.build import build_limits

__all__ = ["FailureCounter", "Limits", "RateLimiter", "Verdict", "build_limits"]
