"""The HTTP side shared by the hosted-provider carriers (``twilio``, ``bandwidth``).

One aiohttp session per carrier, whose resolver applies the deployment's outbound address
policy (``net/guard.py``; a host written as an address is judged as written before the
request), and at most :data:`ANSWER_BYTES` of any answer read (``net/bounded.py``).
A provider that cannot be reached (refused, or no connection in time) or answers 408,
425, 429 or 5xx is a :class:`~trebuchet.server.carriers.base.TransientFailure`
(``Retry-After`` honoured), exactly as for the HTTP upstream carriers.  A timeout or a
dropped connection once the request has gone out (its headers written to the provider's
connection) is an :class:`~trebuchet.server.carriers.base.Unanswered`: the provider may
have taken the message, so the router's ``on_timeout`` decides whether another carrier
may send it (``failover.py``, ``http_outcome.py``).  What a 4xx means is the provider's
own business and is decided by each carrier from the answer's error code.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from trebuchet.server.carriers.base import TransientFailure
from trebuchet.server.carriers.http_outcome import RequestProgress, failure, tracing
from trebuchet.server.carriers.http_upstream import TRANSIENT_STATUSES, translate_status
from trebuchet.server.config import Settings
from trebuchet.server.media.names import same_origin
from trebuchet.server.media.parts import MediaPart
from trebuchet.server.media.types import OCTET_STREAM
from trebuchet.server.net.bounded import read_prefix
from trebuchet.server.net.guard import AddressPolicy, AddressRefused
from trebuchet.server.net.resolver import GuardedResolver

# Enough for any acceptance or error body either provider sends.
ANSWER_BYTES = 64 * 1024
USER_AGENT = "Trebuchet"
# Fetches a received message's provider-hosted media (empty: could not).
MediaLoader = Callable[[Sequence[str]], Awaitable[tuple[MediaPart, ...]]]


@dataclass(frozen=True)
class Answer:
    status: int
    text: str
    headers: Mapping[str, str]

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.text)
        except ValueError:
            return None


def is_transient(status: int) -> bool:
    return status in TRANSIENT_STATUSES or status >= 500


def transient_answer(answer: Answer) -> TransientFailure:
    """The retry an answer with a transient status means (``Retry-After`` honoured)."""
    meant = translate_status(answer.status, answer.text, answer.headers)
    assert isinstance(meant, TransientFailure)
    return meant


def taken_ref(answer: Answer, key: str, provider: str, naming: str) -> str:
    """The provider's id of the message a 2xx ``answer`` took: its JSON body's ``key``.
    An answer without one is a transient failure: taken or not, we cannot tell, so it is
    retried, which may send it twice (reported)."""
    document = answer.json()
    ref = document.get(key) if isinstance(document, dict) else None
    if not isinstance(ref, str) or not ref:
        raise TransientFailure(f"{provider} answered {answer.status} without {naming}")
    return ref


def basic_auth(user: str, password: str) -> str:
    """An ``Authorization`` header value for HTTP Basic."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def events_url(name: str, configured: str, settings: Settings) -> str:
    """The URL of our events endpoint as the provider calls it: ``configured`` when set,
    else ``public_url`` (or the listening address) + ``/v1/carriers/{name}/events``."""
    if configured:
        return configured
    root = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    return f"{root}/v1/carriers/{quote(name)}/events"


class ProviderClient:
    """POSTs to one provider under the outbound policy, reading bounded answers."""

    def __init__(self, policy: AddressPolicy, timeout: float):
        self._policy = policy
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=GuardedResolver(self._policy)),
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                headers={"User-Agent": USER_AGENT},
                trace_configs=[tracing()],
            )
        return self._session

    async def post(self, url: str, auth: str, **body: Any) -> Answer:
        """POST ``body`` (``data=`` a form, ``json=`` a document); transient on failure,
        unanswered on a timeout or a dropped connection after the request went out."""
        progress = RequestProgress()
        try:
            self._policy.check_host(urlsplit(url).hostname or "")
            headers = {"Authorization": auth}
            request = self._client().post(url, headers=headers, trace_request_ctx=progress, **body)
            async with request as resp:
                text = (await read_prefix(resp, ANSWER_BYTES)).text(resp.charset)
                answer = Answer(resp.status, text, resp.headers)
        except AddressRefused as exc:
            raise TransientFailure(f"provider address refused: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise failure(exc, progress, "provider") from exc
        if is_transient(answer.status):
            raise transient_answer(answer)
        return answer

    async def media(
        self, urls: Sequence[str], api_root: str, auth: str, limit: int
    ) -> tuple[MediaPart, ...]:
        """The media of a received message, fetched under the outbound policy, ``limit``
        bytes in all; URLs on the provider's API host (``api_root``) with the account's
        credentials, which the providers' media URLs need, and no others.  Empty when
        any part cannot be had: the URLs are then fetched (or kept) the way every
        inbound message's are."""
        parts: list[MediaPart] = []
        try:
            for url in urls:
                self._policy.check_host(urlsplit(url).hostname or "")
                headers = {"Authorization": auth} if same_origin(url, api_root) else {}
                async with self._client().get(url, headers=headers) as resp:
                    prefix = await read_prefix(resp, limit)
                    if resp.status != 200 or prefix.truncated:
                        return ()
                    limit -= len(prefix.data)
                    kind = resp.content_type or OCTET_STREAM
                    name = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] or "media"
                    parts.append(MediaPart(url, name, kind, prefix.data))
        except (aiohttp.ClientError, TimeoutError, AddressRefused):
            return ()
        return tuple(parts)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            await asyncio.sleep(0)  # let the connector close its sockets
            self._session = None
