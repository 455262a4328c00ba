"""What an HTTP send that got no answer means, for every carrier that sends over HTTP
(the HTTP upstreams, ``http_upstream.py``; the hosted providers, ``provider_http.py``).

The line is whether the request went out, that is whether its headers were written to
the connection (aiohttp's trace hook, :func:`tracing`, records it in the request's
:class:`RequestProgress`):

* not sent (refused, no connection in time, an address error): a plain
  :class:`~trebuchet.server.carriers.base.TransientFailure`; nobody has the message,
  so it may go anywhere, again;
* sent, then no answer in time, or the connection dropped before the answer came:
  :class:`~trebuchet.server.carriers.base.Unanswered`; the other side may have taken
  it, and the router's ``on_timeout`` decides whether another carrier may send it
  (``failover.py``).

A connection kept alive from an earlier request that the other side had closed is
indistinguishable, from here, from one dropped while it handled the request: both are
unanswered (HTTP clients resend only idempotent requests in that case; a send is not).
"""

from __future__ import annotations

from typing import Any

import aiohttp

from trebuchet.server.carriers.base import TransientFailure, Unanswered

# Failures once sent that may come after the other side took the request.
_DROPPED = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)


class RequestProgress:
    """How far one request got: ``sent`` once its headers were written."""

    sent = False


async def _headers_sent(
    session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestHeadersSentParams
) -> None:
    progress = context.trace_request_ctx
    if isinstance(progress, RequestProgress):
        progress.sent = True


def tracing() -> aiohttp.TraceConfig:
    """The session hook that marks a request's :class:`RequestProgress` as sent (pass
    the progress as ``trace_request_ctx``)."""
    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(_headers_sent)
    return trace


def failure(exc: Exception, progress: RequestProgress, who: str) -> TransientFailure:
    """The carrier failure ``exc`` (a timeout or an aiohttp client error) means for a
    request that got as far as ``progress`` says; ``who`` names the other side."""
    reason = f"{type(exc).__name__}: {exc}"
    if progress.sent:
        if isinstance(exc, TimeoutError):  # aiohttp's own timeouts are TimeoutErrors too
            return Unanswered(f"{who} did not answer: {reason}")
        if isinstance(exc, _DROPPED) and not isinstance(exc, aiohttp.ClientConnectorError):
            return Unanswered(f"{who} dropped the connection before answering: {reason}")
    return TransientFailure(f"{who} unreachable: {reason}")
