"""The delivery engine: a send worker and a callback worker over one store.

Runs inside ``trebuchet serve`` (``engine = true``, the default) or on its own in
``trebuchet worker`` processes; any number of them can share a database.  Tests call
:meth:`Engine.run_until_idle` instead of starting the loops.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

from trebuchet.server.callbacks.dispatcher import EventQueue
from trebuchet.server.callbacks.outbox import Outbox
from trebuchet.server.callbacks.sender import AiohttpSender, WebhookSender
from trebuchet.server.carriers.base import Carrier, InboundMessage, Receipt
from trebuchet.server.carriers.routing import build_carrier
from trebuchet.server.config import Settings
from trebuchet.server.domain.backoff import Backoff, CallbackRetry, SendRetry
from trebuchet.server.domain.clock import Clock, SystemClock
from trebuchet.server.domain.times import US
from trebuchet.server.engine.inbound import InboundRouter
from trebuchet.server.engine.sending import SendQueue, apply_receipt
from trebuchet.server.engine.throttle import SenderLimits, parse_rates
from trebuchet.server.engine.worker import Worker
from trebuchet.server.hooks import EngineHooks, MetricsHooks
from trebuchet.server.media.fetch import MediaFetcher, MmsLimits, ReceivedMedia
from trebuchet.server.media.storage import media_storage
from trebuchet.server.net.guard import AddressPolicy
from trebuchet.server.store import Store
from trebuchet.server.store.delivery import DeliveryStore

log = logging.getLogger("trebuchet.engine")
SEND_BACKOFF = Backoff(initial=1.0, factor=2.0, maximum=300.0)
CALLBACK_BACKOFF = Backoff(initial=1.0, factor=2.0, maximum=3600.0)
MAX_IDLE_ROUNDS = 1000


def base_url(settings: Settings) -> str:
    """The API root used in ``messageUri``; set ``public_url`` behind a proxy."""
    return (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")


class Engine:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        carrier: Carrier | None = None,
        sender: WebhookSender | None = None,
        clock: Clock | None = None,
        draw: Callable[[], float] = random.random,
        hooks: EngineHooks | None = None,
    ):
        self.hooks = hooks or MetricsHooks()
        self.store = store
        self.settings = settings
        self.clock = clock or SystemClock()
        self.delivery = DeliveryStore(store)
        self.outbox = Outbox(base_url(settings), round(settings.callback_retry_window * US))
        self.policy = AddressPolicy.from_settings(settings)
        self.media = media_storage(settings.media_dir)
        self.fetcher = MediaFetcher(self.media, MmsLimits.from_settings(settings), self.policy)
        self.carrier = carrier or build_carrier(settings, store)
        self.sender = sender or AiohttpSender(
            self.policy, max_connections=settings.callback_concurrency
        )
        lease_us = round(settings.lease_seconds * US)
        heartbeat = settings.lease_seconds / 3
        self.events = EventQueue(
            self.delivery,
            self.sender,
            self.clock,
            CallbackRetry(CALLBACK_BACKOFF, self.outbox.window_us),
            lease_us=lease_us,
            signing=settings.callback_signing,
            per_destination=settings.callback_concurrency_per_destination,
            per_user=settings.callback_concurrency_per_user,
            draw=draw,
            hooks=self.hooks,
        )
        self.event_worker: Worker[Any] = Worker(
            self.events,
            concurrency=settings.callback_concurrency,
            poll_interval=settings.poll_interval,
            heartbeat_interval=heartbeat,
        )
        limits = SenderLimits(settings.sender_rate, parse_rates(settings.sender_rates))
        self.sends = SendQueue(
            self.delivery,
            self.carrier,
            self.outbox,
            self.clock,
            SendRetry(SEND_BACKOFF, settings.send_max_attempts),
            limits,
            lease_us=lease_us,
            notify=self.event_worker.wake,
            draw=draw,
            media=self.fetcher,
            hooks=self.hooks,
        )
        self.send_worker: Worker[Any] = Worker(
            self.sends,
            concurrency=settings.send_concurrency,
            poll_interval=settings.poll_interval,
            heartbeat_interval=heartbeat,
        )
        received = ReceivedMedia(
            self.media, self.fetcher, base_url(settings), settings.media_max_upload_bytes
        )
        self.router = InboundRouter(
            self.delivery, self.outbox, self.clock, self.event_worker.wake, received
        )
        self.carrier.bind(self)
        self._tasks: list[asyncio.Task[None]] = []
        # Messages accepted by this process wake the send worker at once.
        self._unlisten = store.on_insert(self.send_worker.wake)

    # -- running -----------------------------------------------------------------------

    async def start(self) -> None:
        if not self._tasks:
            log.info("delivery engine started; %s", self.policy.describe())
            if self.settings.callback_allow_private:
                log.warning(
                    "callback_allow_private is deprecated: it means outbound_allow_loopback"
                    " and outbound_allow_private together"
                )
            self._tasks = [
                asyncio.create_task(self.send_worker.run(), name="trebuchet-send-worker"),
                asyncio.create_task(self.event_worker.run(), name="trebuchet-event-worker"),
            ]

    async def stop(self, drain_seconds: float | None = None) -> None:
        """Stop claiming, let in-flight work finish (up to ``drain_seconds``), close."""
        drain = self.settings.drain_seconds if drain_seconds is None else drain_seconds
        self.send_worker.stop()
        self.event_worker.stop()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=drain)
            for task in pending:
                task.cancel()  # their leases run out; another worker takes over
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
        await self.close()

    async def close(self) -> None:
        self._unlisten()
        self._unlisten = lambda: None
        await self.carrier.close()
        await self.sender.close()
        await self.fetcher.close()

    def wake(self) -> None:
        self.send_worker.wake()
        self.event_worker.wake()

    async def run_until_idle(self) -> int:
        """Send and deliver until nothing is due now; answers how many items were handled."""
        total = 0
        for _ in range(MAX_IDLE_ROUNDS):
            handled = await self.send_worker.run_until_idle()
            handled += await self.event_worker.run_until_idle()
            total += handled
            if handled == 0:
                return total
        raise RuntimeError(f"still busy after {MAX_IDLE_ROUNDS} rounds")

    # -- the carrier sink --------------------------------------------------------------

    async def receipt(self, message_id: str, receipt: Receipt) -> None:
        if await apply_receipt(
            self.delivery, self.outbox, message_id, receipt, self.clock.now_us()
        ):
            self.event_worker.wake()

    async def inbound(self, message: InboundMessage) -> str:
        return await self.router.accept(message)
