"""The delivery assembly: one place builds what stores messages, receipts and their events.

:class:`Delivery` holds the delivery store, the outbox, the address policy, the media
storage with its fetcher, and the inbound router that copies a received MMS's media into
the recipient's store.  It is the carrier sink (``receipt``, ``inbound``) everywhere a
message arrives: the engine's carriers, ``POST /v1/admin/inbound``, HTTP upstream events
and ``trebuchet inject``.  The engine builds one and adds its workers; the app builds one
at startup when no engine runs in its process.
"""

from __future__ import annotations

from collections.abc import Callable

from trebuchet.server.callbacks.outbox import Outbox, message_destination
from trebuchet.server.carriers.base import InboundMessage, Receipt
from trebuchet.server.config import Settings
from trebuchet.server.domain.clock import Clock, SystemClock
from trebuchet.server.domain.times import US
from trebuchet.server.engine.inbound import InboundRouter
from trebuchet.server.engine.keywords import KeywordDesk
from trebuchet.server.engine.sending import apply_receipt
from trebuchet.server.media.fetch import MediaFetcher, MmsLimits, ReceivedMedia
from trebuchet.server.media.storage import MediaStorage, media_storage
from trebuchet.server.net.guard import AddressPolicy
from trebuchet.server.store import Store
from trebuchet.server.store.delivery import Cancel, CancelOutcome, DeliveryStore, Row
from trebuchet.server.store.message_rows import message_from_row


def base_url(settings: Settings) -> str:
    """The API root used in ``messageUri`` and media URLs; set ``public_url`` behind a proxy."""
    return (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")


class Delivery:
    """The delivery machinery over one store; see the module docstring."""

    def __init__(
        self,
        store: DeliveryStore,
        outbox: Outbox,
        policy: AddressPolicy,
        media: MediaStorage,
        fetcher: MediaFetcher,
        clock: Clock,
        *,
        root: str,
        upload_limit: int,
        keywords: KeywordDesk | None = None,
    ):
        self.store = store
        self.outbox = outbox
        self.policy = policy
        self.media = media
        self.fetcher = fetcher
        self.clock = clock
        self._listeners: list[Callable[[], None]] = []
        received = ReceivedMedia(media, fetcher, root, upload_limit)
        self.router = InboundRouter(store, outbox, clock, self._notify, received, keywords)

    @classmethod
    def from_settings(
        cls,
        store: Store,
        settings: Settings,
        *,
        clock: Clock | None = None,
    ) -> Delivery:
        policy = AddressPolicy.from_settings(settings)
        media = media_storage(settings)
        return cls(
            DeliveryStore(store),
            Outbox(base_url(settings), round(settings.callback_retry_window * US)),
            policy,
            media,
            MediaFetcher(media, MmsLimits.from_settings(settings), policy),
            clock or SystemClock(),
            root=base_url(settings),
            upload_limit=settings.media_max_upload_bytes,
            keywords=KeywordDesk.from_settings(settings),
        )

    def on_events(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever a receipt or an arrival queues callback events."""
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()

    # -- the carrier sink --------------------------------------------------------------

    async def receipt(self, message_id: str, receipt: Receipt) -> None:
        if await apply_receipt(self.store, self.outbox, message_id, receipt, self.clock.now_us()):
            self._notify()

    async def inbound(self, message: InboundMessage) -> str:
        return await self.router.accept(message)

    async def route(self, message: InboundMessage) -> tuple[str, str]:
        """Store an arrival and queue its event; answers the message id and its user.

        Raises :class:`~trebuchet.server.carriers.base.UnknownNumber` when nobody has
        ``message.to_number``.
        """
        return await self.router.route(message)

    async def cancel(self, user_id: str, message_id: str) -> Cancel:
        """Cancel a message of ``user_id`` that has not reached a carrier; it ends
        ``canceled`` and its callback event is queued with the change."""
        now = self.clock.now_us()

        def events_for(row: Row) -> list[dict[str, object]]:
            message = message_from_row(row)
            event = self.outbox.event(message, message_destination(message), now)
            return [] if event is None else [event]

        done = await self.store.cancel_message(user_id, message_id, now, events_for)
        if done.outcome == CancelOutcome.CANCELED:
            self._notify()
        return done

    async def close(self) -> None:
        await self.fetcher.close()
        await self.media.aclose()
