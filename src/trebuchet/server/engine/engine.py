"""The delivery engine: a send worker and a callback worker over one store.

Runs inside ``trebuchet serve`` (``engine = true``, the default) or on its own in
``trebuchet worker`` processes; any number of them can share a database.  Tests call
:meth:`Engine.run_until_idle` instead of starting the loops.  The engine builds its
:class:`~trebuchet.server.engine.delivery.Delivery` (the store, outbox, media and inbound
router) and adds the carrier, the callback sender and the two workers; the delivery is
the carriers' sink and, in ``trebuchet serve``, the routes' too.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

from trebuchet.server.callbacks.dispatcher import EventQueue
from trebuchet.server.callbacks.sender import AiohttpSender, WebhookSender
from trebuchet.server.carriers.base import Carrier, InboundMessage, Receipt
from trebuchet.server.carriers.routing import build_carrier
from trebuchet.server.config import Settings
from trebuchet.server.domain.backoff import Backoff, CallbackRetry, SendRetry
from trebuchet.server.domain.clock import Clock, SystemClock
from trebuchet.server.domain.dead_letters import CrashPolicy
from trebuchet.server.domain.times import US
from trebuchet.server.engine.delivery import Delivery
from trebuchet.server.engine.housekeeping import build_housekeeper
from trebuchet.server.engine.sending import SendQueue
from trebuchet.server.engine.throttle import SenderLimits, parse_rates
from trebuchet.server.engine.worker import Worker
from trebuchet.server.hooks import EngineHooks, MetricsHooks
from trebuchet.server.store import Store
from trebuchet.server.store.notifications import EVENTS, MESSAGES

log = logging.getLogger("trebuchet.engine")
SEND_BACKOFF = Backoff(initial=1.0, factor=2.0, maximum=300.0)
CALLBACK_BACKOFF = Backoff(initial=1.0, factor=2.0, maximum=3600.0)
MAX_IDLE_ROUNDS = 1000


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
        self.delivery = Delivery.from_settings(store, settings, clock=self.clock)
        self.policy = self.delivery.policy
        self.carrier = carrier or build_carrier(settings, store)
        self.sender = sender or AiohttpSender(
            self.policy, max_connections=settings.callback_concurrency
        )
        self.events = self._event_queue(draw)
        self.event_worker: Worker[Any] = Worker(
            self.events,
            concurrency=settings.callback_concurrency,
            **self._polling(),
        )
        self.delivery.on_events(self.event_worker.wake)
        self.sends = self._send_queue(draw)
        self.send_worker: Worker[Any] = Worker(
            self.sends,
            concurrency=settings.send_concurrency,
            **self._polling(),
        )
        crashes = CrashPolicy(max_crashes=settings.crash_max_attempts)
        for queue in (self.events, self.sends):
            queue.crash_policy, queue.crash_draw = crashes, draw
        self.carrier.bind(self.delivery)
        # Retention and pruning (docs/operations.md); None when this process runs none.
        self.housekeeper = build_housekeeper(store, settings, self.clock, self.delivery.media)
        self._tasks: list[asyncio.Task[None]] = []
        # New messages and events wake the workers at once: those committed by this
        # process, and on PostgreSQL every other process's too (LISTEN/NOTIFY).
        self._unsubscribe = [
            store.subscribe(MESSAGES, self.send_worker.wake),
            store.subscribe(EVENTS, self.event_worker.wake),
        ]

    def _polling(self) -> dict[str, Any]:
        settings = self.settings
        return {
            "poll_interval": settings.poll_interval,
            "heartbeat_interval": settings.lease_seconds / 3,
            "listening": lambda: self.store.listening,
            "listening_interval": settings.poll_interval_listening,
        }

    def _event_queue(self, draw: Callable[[], float]) -> EventQueue:
        settings, delivery = self.settings, self.delivery
        return EventQueue(
            delivery.store,
            self.sender,
            self.clock,
            CallbackRetry(CALLBACK_BACKOFF, delivery.outbox.window_us),
            lease_us=round(settings.lease_seconds * US),
            signing=settings.callback_signing,
            per_destination=settings.callback_concurrency_per_destination,
            per_user=settings.callback_concurrency_per_user,
            order_hold=settings.callback_order_hold_rounds,
            draw=draw,
            hooks=self.hooks,
        )

    def _send_queue(self, draw: Callable[[], float]) -> SendQueue:
        settings, delivery = self.settings, self.delivery
        return SendQueue(
            delivery.store,
            self.carrier,
            delivery.outbox,
            self.clock,
            SendRetry(SEND_BACKOFF, settings.send_max_attempts),
            SenderLimits(settings.sender_rate, parse_rates(settings.sender_rates)),
            lease_us=round(settings.lease_seconds * US),
            notify=self.event_worker.wake,
            draw=draw,
            media=delivery.fetcher,
            hooks=self.hooks,
        )

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
            if self.housekeeper is not None:
                task = asyncio.create_task(self.housekeeper.run(), name="trebuchet-housekeeping")
                self._tasks.append(task)

    async def stop(self, drain_seconds: float | None = None) -> None:
        """Stop claiming, let in-flight work finish (up to ``drain_seconds``), close."""
        drain = self.settings.drain_seconds if drain_seconds is None else drain_seconds
        self.send_worker.stop()
        self.event_worker.stop()
        if self.housekeeper is not None:
            self.housekeeper.stop()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=drain)
            for task in pending:
                task.cancel()  # their leases run out; another worker takes over
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
        await self.close()

    async def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        await self.carrier.close()
        await self.sender.close()
        await self.delivery.close()

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

    # -- the carrier sink (the delivery assembly's) ---------------------------------

    async def receipt(self, message_id: str, receipt: Receipt) -> None:
        await self.delivery.receipt(message_id, receipt)

    async def inbound(self, message: InboundMessage) -> str:
        return await self.delivery.inbound(message)
