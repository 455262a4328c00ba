"""Sending one callback request: the interface and its aiohttp implementation.

aiohttp was chosen over httpx by measurement (docs/callbacks.md: about 20x the callbacks
per second at high concurrency on loopback).  Redirects are not followed: a 3xx answer
is a failed try, like any other non-2xx.  At most :data:`ANSWER_PREFIX_BYTES` of an
answer's body are read; a failed try records them, and a longer body is cut off by
closing the connection.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from trebuchet.server.callbacks.request import CallbackRequest
from trebuchet.server.net.bounded import Prefix, read_prefix
from trebuchet.server.net.guard import AddressPolicy, AddressRefused
from trebuchet.server.net.resolver import GuardedResolver

# How much of a receiver's answer is read, and shown with a failed try.
ANSWER_PREFIX_BYTES = 1024
_MAX_ERROR = 300


@dataclass(frozen=True)
class CallbackOutcome:
    status: int | None
    error: str | None
    duration_us: int
    # The policy refused the address: trying again will not help.
    refused: bool = False
    # The start of the receiver's answer body (up to ANSWER_PREFIX_BYTES), when one came.
    answer: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookSender(Protocol):
    async def send(self, request: CallbackRequest, timeout_s: float) -> CallbackOutcome: ...

    async def close(self) -> None: ...


def _failed_answer(response: aiohttp.ClientResponse, answer: Prefix) -> str:
    """The reason phrase and the start of the body of a non-2xx answer, on one line."""
    reason = (response.reason or f"HTTP {response.status}")[:_MAX_ERROR]
    body = " ".join(answer.text(response.charset).split())
    return f"{reason}: {body}" if body else reason


class AiohttpSender:
    def __init__(self, policy: AddressPolicy, *, max_connections: int = 256):
        self._policy = policy
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, resolver=GuardedResolver(self._policy)
            )
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    async def send(self, request: CallbackRequest, timeout_s: float) -> CallbackOutcome:
        started = time.perf_counter()

        def outcome(
            status: int | None,
            error: str | None = None,
            refused: bool = False,
            answer: str | None = None,
        ) -> CallbackOutcome:
            elapsed = round((time.perf_counter() - started) * 1_000_000)
            if status is None and error is not None:
                error = error[:_MAX_ERROR]
            return CallbackOutcome(status, error, elapsed, refused, answer)

        try:  # an address as written never reaches the resolver
            self._policy.check_host(urlsplit(request.url).hostname or "")
        except AddressRefused as exc:
            return outcome(None, str(exc), True)
        try:
            async with self._client().request(
                request.method,
                URL(request.url, encoded=True),
                data=request.body,
                headers=request.headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as response:
                answer = await read_prefix(response, ANSWER_PREFIX_BYTES)
                body = answer.text(response.charset)
                if response.status < 300:
                    return outcome(response.status, answer=body)
                return outcome(response.status, _failed_answer(response, answer), answer=body)
        except AddressRefused as exc:
            return outcome(None, str(exc), True)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, AddressRefused):
                return outcome(None, str(exc.os_error), True)
            return outcome(None, f"connection failed: {exc.os_error}")
        except TimeoutError:
            return outcome(None, f"no answer within {timeout_s:g} s")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return outcome(None, f"{type(exc).__name__}: {exc}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        await asyncio.sleep(0)
