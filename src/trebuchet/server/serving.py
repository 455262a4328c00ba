"""Running the app under uvicorn with connection limits uvicorn does not apply itself.

:class:`GuardedHttpProtocol` is uvicorn's httptools protocol plus:

* a deadline for the request head (``header_timeout_seconds``), armed when a connection
  opens and when a request begins, so a client that connects and says nothing, or sends
  its headers a byte at a time (slowloris), is answered 408 and disconnected;
* a deadline for the body (``body_timeout_seconds``), after which the connection closes;
* limits on the head's size (``max_header_bytes``) and header count (``max_headers``),
  answered 431 (httptools alone accepts megabytes of headers).

Idle keep-alive connections are closed after ``keep_alive_seconds`` by uvicorn.

:func:`run` serves in this process, or with ``workers`` above 1 in that many processes
sharing one listening socket (uvicorn's supervisor starts, watches and stops them; each
builds its app from the settings the parent hands down in the environment).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from trebuchet.server.config import Settings, dump_settings, restore_settings

# The settings ``run`` hands to its worker processes (outside the ``TREBUCHET_`` names).
WORKER_SETTINGS_ENV = "_TREBUCHET_WORKER_SETTINGS"


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float
    body_timeout: float
    max_header_bytes: int
    max_headers: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            settings.header_timeout_seconds,
            settings.body_timeout_seconds,
            settings.max_header_bytes,
            settings.max_headers,
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


class GuardedHttpProtocol(HttpToolsProtocol):
    limits: ConnectionLimits  # set on the subclass :func:`uvicorn_config` makes

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._in_head = True
        self._head_bytes = 0
        self._header_count = 0
        self._rejected = False
        self._deadline: asyncio.TimerHandle | None = None
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
        if head and (self.cycle is None or self.cycle.response_complete):
            self.transport.write(TIMED_OUT)
        self.transport.close()

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
        if self._deadline is None:
            self._arm(self.limits.header_timeout, head=True)
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._rejected = True
            raise _HeadRejected
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._arm(self.limits.body_timeout, head=False)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head = True  # what arrives next is the next request's head
        self._head_bytes = 0
        super().on_message_complete()


def protocol_class(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    return type("TrebuchetHttpProtocol", (GuardedHttpProtocol,), {"limits": limits})


class WorkerHttpProtocol(GuardedHttpProtocol):
    """The protocol of a worker process, named for import; :func:`worker_app` sets limits."""


def _options(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "timeout_keep_alive": max(1, math.ceil(settings.keep_alive_seconds)),
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "server_header": False,
        "access_log": False,
        "log_config": None,
    }


def uvicorn_config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration ``serve`` runs with (tests pass host/port overrides)."""
    limits = ConnectionLimits.from_settings(settings)
    options = {**_options(settings), "http": protocol_class(limits), **overrides}
    return uvicorn.Config(app, **options)


def worker_app() -> ASGIApp:
    """The app of one ``serve --workers`` process, from the settings its parent passed."""
    from trebuchet.server.api.app import create_app
    from trebuchet.server.logs import configure_logging

    settings = restore_settings(os.environ[WORKER_SETTINGS_ENV])
    configure_logging(settings.log_format, settings.log_level)
    WorkerHttpProtocol.limits = ConnectionLimits.from_settings(settings)
    return create_app(settings)


def run(settings: Settings) -> None:
    """Serve until stopped: in this process, or in ``settings.workers`` processes."""
    if settings.workers <= 1:
        from trebuchet.server.api.app import create_app

        uvicorn.Server(uvicorn_config(create_app(settings), settings)).run()
        return
    os.environ[WORKER_SETTINGS_ENV] = dump_settings(settings)
    uvicorn.run(
        f"{__name__}:worker_app",
        factory=True,
        workers=settings.workers,
        http=f"{__name__}:WorkerHttpProtocol",
        **_options(settings),
    )
