"""Running the app under uvicorn with connection limits uvicorn does not apply itself.

:class:`GuardedHttpProtocol` is uvicorn's httptools protocol plus:

* a deadline for the request head (``header_timeout_seconds``), armed when a connection
  opens and when a request begins, so a client that connects and says nothing, or sends
  its headers a byte at a time (slowloris), is answered 408 and disconnected;
* an inactivity timeout for the body: no body bytes for ``body_timeout_seconds`` (while
  the app is reading) and the request is answered 408 and the connection closed; past
  that first stretch, the body must also keep up an average of
  ``body_min_bytes_per_second`` since its headers, so a client trickling a byte now and
  then cannot hold a connection for ever.  A steady upload of any length passes;
* limits on the head's size (``max_header_bytes``) and header count (``max_headers``),
  answered 431 (httptools alone accepts megabytes of headers).  The size is counted on
  the bytes received while a head is incomplete, and on the parsed request line and
  headers, so a head that arrives whole in one read is measured too.

Idle keep-alive connections are closed after ``keep_alive_seconds`` by uvicorn.

:func:`run` serves in this process, or starts API and delivery processes under the
supervisor in ``supervisor.py`` (the topology in ``topology.py``; docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import socket
from dataclasses import dataclass
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from trebuchet.server.config import Settings, proxy_hosts


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float
    body_timeout: float
    max_header_bytes: int
    max_headers: int
    body_min_rate: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            settings.header_timeout_seconds,
            settings.body_timeout_seconds,
            settings.max_header_bytes,
            settings.max_headers,
            settings.body_min_bytes_per_second,
        )


class _HeadRejected(Exception):
    """Raised inside a parser callback to stop parsing a head we refuse."""


def _error_response(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps(
        {"category": "bad-request", "code": code, "message": message, "details": []}
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


TOO_LARGE = _error_response(
    431,
    "Request Header Fields Too Large",
    "request-header-too-large",
    "The request headers exceed the server's limits",
)
TIMED_OUT = _error_response(
    408, "Request Timeout", "request-timeout", "The request headers did not arrive in time"
)
BODY_TIMED_OUT = _error_response(
    408, "Request Timeout", "request-timeout", "The request body stopped arriving"
)
# What a request line or header costs beyond its parts: the spaces, ": " and CRLF.
REQUEST_LINE_EXTRA = len(b"GET  HTTP/1.1\r\n")
HEADER_EXTRA = len(b": \r\n")


class GuardedHttpProtocol(HttpToolsProtocol):
    limits: ConnectionLimits  # set on the subclass :func:`uvicorn_config` makes

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._in_head = True
        self._head_bytes = 0  # received while the head is incomplete
        self._parsed_head = 0  # of the head being parsed
        self._header_count = 0
        self._rejected = False
        self._deadline: asyncio.TimerHandle | None = None
        self._body_start = self._body_seen = 0.0
        self._body_bytes = 0
        self._arm(self.limits.header_timeout, head=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float, *, head: bool) -> None:
        self._disarm()
        if seconds > 0:
            self._deadline = self.loop.call_later(seconds, self._expired, head)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, head: bool) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if not head:
            left = self._body_time_left()
            if left > 0:
                self._deadline = self.loop.call_later(left, self._expired, False)
                return
            if not self.cycle.response_started:
                self.transport.write(BODY_TIMED_OUT)
        elif self.cycle is None or self.cycle.response_complete:
            self.transport.write(TIMED_OUT)
        self.transport.close()

    def _body_time_left(self) -> float:
        """Seconds until the body is too late: no bytes for ``body_timeout``, or (past
        the first ``body_timeout``) an average under ``body_min_rate``."""
        now = self.loop.time()
        if self.flow.read_paused:  # the app is behind, not the client: start afresh
            self._body_start = self._body_seen = now
            self._body_bytes = 0
        limits = self.limits
        deadline = self._body_seen + limits.body_timeout
        if limits.body_min_rate > 0:
            paid_for = self._body_bytes / limits.body_min_rate
            deadline = min(deadline, self._body_start + limits.body_timeout + paid_for)
        return deadline - now

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        over = self._in_head and self._head_bytes > self.limits.max_header_bytes
        if over and not self.transport.is_closing():
            self._reject()

    def send_400_response(self, msg: str) -> None:
        if self._rejected:
            self._reject()
        else:
            super().send_400_response(msg)

    def _reject(self) -> None:
        self._rejected = True
        self._disarm()
        self.transport.write(TOO_LARGE)
        self.transport.close()

    def on_message_begin(self) -> None:
        # Head bytes are not reset here: this runs inside the feed that counted them.
        self._header_count = 0
        self._parsed_head = REQUEST_LINE_EXTRA
        if self._deadline is None:
            self._arm(self.limits.header_timeout, head=True)
        super().on_message_begin()

    def _count_head(self, size: int) -> None:
        self._parsed_head += size
        if self._parsed_head > self.limits.max_header_bytes:
            self._rejected = True
            raise _HeadRejected

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._rejected = True
            raise _HeadRejected
        self._count_head(len(name) + len(value) + HEADER_EXTRA)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._body_start = self._body_seen = self.loop.time()
        self._body_bytes = 0
        self._arm(self.limits.body_timeout, head=False)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        # Only noted here; the timer re-checks when it fires (no re-arming per chunk).
        self._body_bytes += len(body)
        self._body_seen = self.loop.time()
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head = True  # what arrives next is the next request's head
        self._head_bytes = 0
        super().on_message_complete()


def protocol_class(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    return type("TrebuchetHttpProtocol", (GuardedHttpProtocol,), {"limits": limits})


def _options(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "timeout_keep_alive": max(1, math.ceil(settings.keep_alive_seconds)),
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "server_header": False,
        # X-Forwarded-Proto and -For are believed from these peers only (docs/scaling.md).
        "proxy_headers": bool(proxy_hosts(settings.trusted_proxies)),
        "forwarded_allow_ips": proxy_hosts(settings.trusted_proxies) or None,
        "access_log": False,
        "log_config": None,
    }


def uvicorn_config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration ``serve`` runs with (tests pass host/port overrides)."""
    limits = ConnectionLimits.from_settings(settings)
    options = {**_options(settings), "http": protocol_class(limits), **overrides}
    return uvicorn.Config(app, **options)


def serve_until_stopped(server: uvicorn.Server, sockets: list[socket.socket] | None = None) -> None:
    """Run ``server`` until SIGTERM or SIGINT and return normally (exit code 0).

    uvicorn raises the signal it stopped on again once it has shut down, to the handler
    that was there before; this one takes it as done.
    """
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=sockets)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stopped(signum: int, frame: FrameType | None) -> None:
    """The signal uvicorn stopped on, raised again after it stopped: nothing left to do."""


def run(settings: Settings) -> int:
    """Serve until stopped; answers the exit code.

    One process (API and engine together) when the topology is single; otherwise the
    supervisor in ``serving/supervisor.py`` runs API and delivery processes.
    """
    from trebuchet.server.serving.supervisor import supervise
    from trebuchet.server.serving.topology import topology

    shape = topology(settings)
    if shape.single:
        from trebuchet.server.console.app import create_app

        serve_until_stopped(uvicorn.Server(uvicorn_config(create_app(settings), settings)))
        return 0
    return supervise(settings, shape)
